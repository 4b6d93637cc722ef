"""Public request parts without enums of their own, re-exported by chatrpc._types: a `Tool`
the model may call and a `ContentPart` of a user message (text, or an image by URL)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Tool:
    """A function the model may call; `parameters` is a JSON Schema object."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] | None = None
    strict: bool | None = None  # follow `parameters` exactly (structured outputs); None: unsaid


@dataclass(frozen=True, slots=True)
class ContentPart:
    """One part of a user message's content: text, or an image by URL (an `https://` URL or a
    `data:image/...;base64,...` URL, passed to the model as given) with an optional `detail`
    ("auto", "low" or "high").

    Example:
        >>> ContentPart.image("https://example.com/cat.png", detail="low")
    """

    text: str = ""
    image_url: str = ""
    detail: str = ""

    @classmethod
    def image(cls, url: str, detail: str = "") -> ContentPart:
        """An image part."""
        return cls(image_url=url, detail=detail)

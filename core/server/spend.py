"""The guard's hook into budgets and spend (core.keys.budgets), for the RPCs that run a model.

One SpendMeter per metered call: `admit` checks the key's model list and budget once the
request is decoded (before any model work); `observe` reads each response the guard sends
for the model and the usage it reports; `settle` records that usage when the call ends —
whatever the guard charges the key's token quota is what spend records, cancelled and failed
calls included (their generated tokens, counted or estimated, when they reported no usage).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chatrpc.v1 import chat_service_pb2 as pb
from core.catalog import ModelCatalog
from core.errors import ModelNotFoundError
from core.keys.budgets import Budgets
from core.types import Caller


def catalog_prices(catalog: ModelCatalog) -> Callable[[str], tuple[float, float]]:
    """A model's (input, output) US dollars per million tokens, from its catalog entry (an
    unknown model costs nothing)."""

    def prices(model: str) -> tuple[float, float]:
        try:
            spec = catalog.get(model)
        except ModelNotFoundError:
            return 0.0, 0.0
        return spec.input_price, spec.output_price

    return prices


class SpendMeter:
    """Budget admission and spend of one call (see the module docstring)."""

    def __init__(self, budgets: Budgets | None, caller: Caller) -> None:
        self._budgets = budgets
        self._caller = caller
        self.model = ""
        self.prompt_tokens = 0
        self.completion_tokens = 0

    async def admit(self, request: Any) -> None:
        self.model = str(getattr(request, "model", ""))
        if self._budgets is not None:
            await self._budgets.admit(self._caller, self.model)

    def observe(self, response: Any) -> None:
        """Take the model and usage a ChatResponse, EmbedResponse or stream event carries."""
        if self._budgets is None:  # nothing to record: no work per streamed message
            return
        if isinstance(response, pb.StreamChatResponse):
            if response.HasField("start"):
                self.model = response.start.model or self.model
            if not response.HasField("usage"):
                return
            usage = response.usage
        elif isinstance(response, pb.ChatResponse | pb.EmbedResponse):
            self.model = response.model or self.model
            usage = response.usage
        else:
            return
        self.prompt_tokens += int(usage.prompt_tokens)
        self.completion_tokens += int(usage.completion_tokens)

    async def settle(self, unreported: int = 0) -> None:
        """Record the call's usage (written in the background: the reply does not wait). A call
        that reported no usage (cancelled or failed mid-turn) spends `unreported`: the tokens
        the guard charged for what it generated."""
        if not self.prompt_tokens and not self.completion_tokens:
            self.completion_tokens = unreported
        if self._budgets is not None:
            self._budgets.record_soon(
                self._caller, self.model, self.prompt_tokens, self.completion_tokens
            )

"""The runnable examples of README.md and docs/: fenced `python` blocks, and `sh`/`bash` blocks
that call curl or grpcurl. An HTML comment on the line before a fence,
`<!-- example: skip "why" -->`, marks one the suite cannot run (a hosted model's key, TLS
certificates, a cluster) and says why."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```([a-z]*)\s*$")
SKIP = re.compile(r'^<!-- example: skip "([^"]+)" -->$')
CALLS_A_SERVER = re.compile(r"\b(curl|grpcurl)\b")


@dataclass(frozen=True)
class Example:
    page: str  # relative to the repository root
    line: int  # of the opening fence
    language: str  # "python" or "sh"
    code: str
    skip: str | None  # why the suite cannot run it

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def _runnable(language: str, code: str) -> bool:
    if language == "python":
        return True
    return language in ("sh", "bash") and CALLS_A_SERVER.search(code) is not None


def examples_in(path: Path) -> list[Example]:
    """The runnable examples of one Markdown page, in page order."""
    lines = path.read_text().splitlines()
    found, i = [], 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "```")
        language, code = opening.group(1), "\n".join(lines[i + 1 : end]) + "\n"
        marker = SKIP.match(lines[i - 1].strip()) if i > 0 else None
        if _runnable(language, code):
            page = str(path.relative_to(ROOT))
            skip = marker.group(1) if marker else None
            found.append(
                Example(page, i + 1, "python" if language == "python" else "sh", code, skip)
            )
        i = end + 1
    return found


def all_examples() -> list[Example]:
    return [example for page in PAGES for example in examples_in(page)]


def pointed_at(code: str, gateway_url: str, core_target: str) -> str:
    """The example with `make run`'s addresses replaced by the test servers'."""
    host_port = gateway_url.removeprefix("http://")
    for local in ("localhost:8000", "127.0.0.1:8000"):
        code = code.replace(local, host_port)
    for local in ("localhost:50051", "127.0.0.1:50051"):
        code = code.replace(local, core_target)
    return code

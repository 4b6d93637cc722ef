"""`python -m core.knowledge`: create knowledge spaces, ingest files into them, search them.

    python -m core.knowledge [--database-url URL] [--owner OWNER] COMMAND …
      create-space SPACE [--name N] [--description D]
      list-spaces
      ingest SPACE FILE_OR_DIR…      (*.md, *.markdown, *.txt; directories recursively)
      search SPACE QUESTION [-k 4]

The database URL defaults to CHATRPC_DATABASE_URL (through core.settings), else
`sqlite:///var/chatrpc.db`, the core's own default, so the core sees what the CLI ingested.
A document's source (what citations show) is the path as typed, joined with the path inside
a directory argument; ingesting the same source again replaces that document. Exit status:
0 on success, 1 when anything failed (each problem is reported on stderr), 2 for bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from core.errors import ChatError
from core.knowledge import open_knowledge
from core.knowledge.base import KnowledgeStore
from core.settings import Settings
from core.types import DEFAULT_OWNER

SUFFIXES = frozenset({".md", ".markdown", ".txt"})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m core.knowledge", description="Manage chatrpc knowledge spaces."
    )
    parser.add_argument(
        "--database-url", default="", help="sqlite:///path.db or postgresql://… (default: core's)"
    )
    parser.add_argument("--owner", default=DEFAULT_OWNER, help="owner of the spaces")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    create = commands.add_parser("create-space", help="create an empty space")
    create.add_argument("space")
    create.add_argument("--name", default="")
    create.add_argument("--description", default="")

    commands.add_parser("list-spaces", help="list the owner's spaces")

    documents = commands.add_parser("list-documents", help="list a space's documents")
    documents.add_argument("space")

    ingest = commands.add_parser("ingest", help="add or replace documents in a space")
    ingest.add_argument("space")
    ingest.add_argument("paths", nargs="+", metavar="FILE_OR_DIR")

    search = commands.add_parser("search", help="show the chunks a question retrieves")
    search.add_argument("space")
    search.add_argument("question")
    search.add_argument("-k", type=int, default=4, help="number of chunks (default 4)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        url = args.database_url or Settings.from_env().database_url
        return asyncio.run(_run(url, args))
    except ChatError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1


async def _run(url: str, args: argparse.Namespace) -> int:
    store = await open_knowledge(url)
    try:
        if args.command == "create-space":
            await _create_space(store, args)
            return 0
        if args.command == "list-spaces":
            await _list_spaces(store, args.owner)
            return 0
        if args.command == "list-documents":
            await _list_documents(store, args.owner, args.space)
            return 0
        if args.command == "ingest":
            return await _ingest(store, args.owner, args.space, args.paths)
        return await _search(store, args)
    finally:
        await store.aclose()


async def _create_space(store: KnowledgeStore, args: argparse.Namespace) -> None:
    space = await store.create_space(args.owner, args.space, args.name, args.description)
    print(f"created space {space.space_id}")


async def _list_spaces(store: KnowledgeStore, owner: str) -> None:
    for space in await store.list_spaces(owner):
        print(f"{space.space_id}\t{space.document_count} documents\t{space.name}")


async def _list_documents(store: KnowledgeStore, owner: str, space_id: str) -> None:
    for document in await store.list_documents(owner, space_id):
        print(f"{document.source}\t{document.chunk_count} chunks\t{document.title}")


async def _ingest(store: KnowledgeStore, owner: str, space_id: str, paths: Sequence[str]) -> int:
    await store.get_space(owner, space_id)  # fail fast, before reading any file
    files, problems = find_files(paths)
    documents = chunks = 0
    for path, source in files:
        try:
            text = await asyncio.to_thread(path.read_text, encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{source}: cannot read as UTF-8 text ({type(exc).__name__})")
            continue
        document = await store.add_document(owner, space_id, source, text)
        documents, chunks = documents + 1, chunks + document.chunk_count
        print(f"{source}\t{document.chunk_count} chunks\t{document.title}")
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    print(f"ingested {documents} documents ({chunks} chunks) into {space_id}")
    return 1 if problems else 0


def find_files(paths: Sequence[str]) -> tuple[list[tuple[Path, str]], list[str]]:
    """(file, source) for each file to ingest, in order, and a message per unusable path.

    Directories are searched recursively for *.md, *.markdown and *.txt, skipping hidden
    files and directories; a file named directly must have one of those suffixes.
    """
    files: list[tuple[Path, str]] = []
    problems: list[str] = []
    for arg in paths:
        root = Path(arg)
        if root.is_dir():
            for path in sorted(root.rglob("*")):
                relative = path.relative_to(root)
                hidden = any(part.startswith(".") for part in relative.parts)
                if path.is_file() and path.suffix.lower() in SUFFIXES and not hidden:
                    files.append((path, (root / relative).as_posix()))
        elif not root.is_file():
            problems.append(f"{arg}: no such file or directory")
        elif root.suffix.lower() not in SUFFIXES:
            problems.append(f"{arg}: not a .md, .markdown or .txt file")
        else:
            files.append((root, root.as_posix()))
    return files, problems


async def _search(store: KnowledgeStore, args: argparse.Namespace) -> int:
    hits = await store.search(args.owner, args.space, args.question, args.k)
    if not hits:
        print("no matching chunks")
    for number, hit in enumerate(hits, start=1):
        chunk = hit.chunk
        print(f"{number}. {chunk.source} #{chunk.ordinal} ({chunk.title}) score {hit.score:.3f}")
        print("   " + chunk.text.replace("\n", "\n   "))
    return 0

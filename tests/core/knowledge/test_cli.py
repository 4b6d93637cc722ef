"""`python -m core.knowledge`, run in-process through cli.main(argv) on a temporary database."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.knowledge.cli import main
from tests.core.knowledge.contract import BIKES_MD, HARBOR_MD, TEA_MD


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'db' / 'chatrpc.db'}"


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    (root / "shops").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / "shops" / "tea.md").write_text(TEA_MD, encoding="utf-8")
    (root / "shops" / "harbor.markdown").write_text(HARBOR_MD, encoding="utf-8")
    (root / "bikes.txt").write_text(BIKES_MD, encoding="utf-8")
    (root / "image.png").write_bytes(b"\x89PNG")
    (root / ".git" / "notes.md").write_text("hidden", encoding="utf-8")
    return root


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_create_ingest_search_and_list(
    url: str, docs: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(docs.parent)
    db = ["--database-url", url]

    assert run(capsys, *db, "create-space", "tea", "--name", "Tea")[:2] == (
        0,
        "created space tea\n",
    )

    code, out, err = run(capsys, *db, "ingest", "tea", "docs")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "docs/bikes.txt\t2 chunks\tBicycle care",
        "docs/shops/harbor.markdown\t3 chunks\tHarbor Tea House",
        "docs/shops/tea.md\t4 chunks\t半盏青年茶馆",
        "ingested 3 documents (9 chunks) into tea",
    ]

    code, out, _ = run(capsys, *db, "search", "tea", "茶馆几点开门？", "-k", "1")
    assert code == 0
    assert out.splitlines()[0].startswith("1. docs/shops/tea.md #1 (半盏青年茶馆) score 1.000")
    assert "十点开门" in out
    assert "2." not in out

    assert run(capsys, *db, "list-spaces")[:2] == (0, "tea\t3 documents\tTea\n")
    code, out, _ = run(capsys, *db, "list-documents", "tea")
    assert code == 0 and len(out.splitlines()) == 3 and "docs/shops/tea.md\t" in out


def test_reingesting_a_file_replaces_it(
    url: str, docs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ["--database-url", url]
    run(capsys, *db, "create-space", "tea")
    tea = docs / "shops" / "tea.md"
    run(capsys, *db, "ingest", "tea", str(tea))
    tea.write_text("# 新版\n\n茶馆中午十二点开门。", encoding="utf-8")

    code, out, _ = run(capsys, *db, "ingest", "tea", str(tea))

    assert code == 0 and out.endswith("ingested 1 documents (1 chunks) into tea\n")
    assert run(capsys, *db, "list-spaces")[1] == "tea\t1 documents\t\n"
    assert "十二点开门" in run(capsys, *db, "search", "tea", "几点开门")[1]


def test_the_owner_option_separates_spaces(
    url: str, docs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ["--database-url", url]
    run(capsys, *db, "--owner", "alice", "create-space", "tea")
    run(capsys, *db, "--owner", "alice", "ingest", "tea", str(docs))

    assert run(capsys, *db, "list-spaces")[1] == ""
    code, _, err = run(capsys, *db, "search", "tea", "tea house")
    assert (code, err) == (1, "error: knowledge space not found\n")


def test_problems_are_reported_and_the_rest_is_ingested(
    url: str, docs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ["--database-url", url]
    run(capsys, *db, "create-space", "tea")
    (docs / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    missing = docs / "missing.md"

    code, out, err = run(
        capsys,
        *db,
        "ingest",
        "tea",
        str(docs / "image.png"),
        str(missing),
        str(docs / "latin1.txt"),
        str(docs / "bikes.txt"),
    )

    assert code == 1
    assert out.endswith("ingested 1 documents (2 chunks) into tea\n")
    assert "image.png: not a .md, .markdown or .txt file" in err
    assert f"{missing}: no such file or directory" in err
    assert "latin1.txt: cannot read as UTF-8 text" in err


def test_domain_errors_exit_1_with_a_message(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    db = ["--database-url", url]
    assert run(capsys, *db, "create-space", "tea")[0] == 0
    assert run(capsys, *db, "create-space", "tea")[::2] == (
        1,
        "error: knowledge space already exists\n",
    )
    assert run(capsys, *db, "ingest", "nope", "x.md")[::2] == (
        1,
        "error: knowledge space not found\n",
    )
    code, _, err = run(capsys, *db, "create-space", "bad id")
    assert code == 1 and "space_id" in err
    code, _, err = run(capsys, *db, "search", "tea", "tea", "-k", "0")
    assert code == 1 and "k must be between" in err
    code, _, err = run(capsys, "--database-url", "mysql://u:s3cret@h/db", "list-spaces")
    assert code == 1 and "s3cret" not in err


def test_search_with_no_match_says_so(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "--database-url", url, "create-space", "tea")
    assert run(capsys, "--database-url", url, "search", "tea", "?") == (
        0,
        "no matching chunks\n",
        "",
    )


def test_the_default_database_is_the_cores(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CHATRPC_DATABASE_URL", raising=False)

    assert run(capsys, "create-space", "tea")[0] == 0

    assert (tmp_path / "var" / "chatrpc.db").is_file()


def test_bad_usage_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in ([], ["frobnicate"], ["ingest", "tea"], ["search", "tea", "q", "-k", "x"]):
        with pytest.raises(SystemExit) as caught:
            main(argv)
        assert caught.value.code == 2
    capsys.readouterr()

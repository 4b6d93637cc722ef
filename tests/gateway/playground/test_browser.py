"""The playground in a real headless Chromium (Debian's, driven by Playwright), against a real
gateway and core on the scripted model: a reply grows as it streams, threads switch with their
history, Stop cancels the turn in the core, and model output never runs as HTML.

Chromium comes from `apt-get install chromium` (`make browser`, or this module when it runs as
root); Playwright's Python package carries its own driver, so `playwright install` is never
run. Without chromium and without root, the module is skipped, saying so.

CHATRPC_SCREENSHOTS=<dir> saves the idle and mid-stream screenshots the docs show
(docs/images/playground-*.png).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from core.types import BackendChunk, FinishReason, ToolCallDelta
from tests.fakes import ScriptedBackend
from tests.gateway.playground.stack import KEY, MODEL, playground_stack

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WAIT = 30.0  # seconds: a bound on a hang on a loaded machine, not a speed check


def _chromium() -> Path:
    """Debian's chromium, installed with apt-get when missing and this is root."""
    if CHROMIUM.exists():
        return CHROMIUM
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip("Debian's chromium is not installed (/usr/bin/chromium) and this is not root")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, timeout=900, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "chromium"], check=True, timeout=1800, env=env
    )
    return CHROMIUM


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    path = _chromium()
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(path), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def scripted() -> ScriptedBackend:
    return ScriptedBackend()


@pytest.fixture(scope="module")
def gateway_url(scripted, tmp_path_factory) -> Iterator[str]:
    database = tmp_path_factory.mktemp("playground") / "threads.db"
    with playground_stack(scripted, database) as (_, gateway):
        yield gateway.url


class Watched:
    """A page with everything it did recorded: dialogs opened, requests sent, console errors."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.dialogs: list[str] = []
        self.requests: list[str] = []
        self.console_errors: list[str] = []
        page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))
        page.on("request", lambda request: self.requests.append(request.url))
        page.on(
            "console",
            lambda message: message.type == "error" and self.console_errors.append(message.text),
        )


@pytest.fixture
def watched(browser, gateway_url) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1200, "height": 760})
    page = context.new_page()
    watched = Watched(page)
    page.goto(gateway_url + "/playground")
    until(lambda: page.locator(f"#model option[value='{MODEL}']").count() == 1)
    yield watched
    context.close()


def until(condition: Callable[[], Any], timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("the page did not get there in time")


def send(page: Any, text: str) -> None:
    page.fill("#prompt", text)
    page.click("#send")


def last_reply(page: Any) -> Any:
    return page.locator(".message.assistant").last


def status(page: Any) -> str:
    return page.text_content("#status") or ""


def growth_of_reply(page: Any) -> list[str]:
    """Every distinct text the last reply showed, until the turn was done."""
    seen: list[str] = []
    done = False
    while not done:
        done = status(page) == "done"  # read before the text: the last text is then final
        text = last_reply(page).locator(".content").text_content() or ""
        if text and (not seen or text != seen[-1]):
            seen.append(text)
            if len(seen) == 3:
                _screenshot(page, "playground-streaming.png")
        time.sleep(0.02)
    return seen


def _screenshot(page: Any, name: str) -> None:
    folder = os.environ.get("CHATRPC_SCREENSHOTS")
    if folder:
        page.screenshot(path=str(Path(folder) / name))


def test_a_reply_grows_as_it_streams_and_shows_its_figures(watched, scripted):
    page = watched.page
    page.fill("#temperature", "0.5")
    page.fill("#max-tokens", "64")
    page.fill("#system", "Answer briefly.")
    page.select_option("#model", MODEL)
    scripted.enqueue(["Green", " tea", " is", " steamed", " or", " pan-fired."], delay=0.25)
    send(page, "What is green tea?")

    seen = until(lambda: growth_of_reply(page))
    assert len(seen) >= 3 and seen[-1] == "Green tea is steamed or pan-fired."
    assert all(later.startswith(earlier) for earlier, later in pairwise(seen))
    figures = until(lambda: last_reply(page).locator(".figures").text_content())
    assert "TTFT" in figures and "tokens/s" in figures and "6 tokens" in figures
    assert "server: ttft" in figures
    call = scripted.calls[-1]
    assert call.params.temperature == 0.5 and call.params.max_tokens == 64
    assert call.prompt.messages[0].content == "Answer briefly."
    _screenshot(page, "playground-idle.png")
    assert watched.console_errors == []


def test_a_second_thread_and_back_shows_the_first_threads_history(watched, scripted):
    page = watched.page
    scripted.enqueue(["First", " answer."])
    send(page, "first question")
    until(lambda: status(page) == "done")
    first = page.locator("#threads li.current").get_attribute("data-thread-id")

    page.click("#new-thread")
    until(lambda: page.locator(".message").count() == 0)
    scripted.enqueue(["Second", " answer."])
    send(page, "second question")
    until(lambda: status(page) == "done")
    second = page.locator("#threads li.current").get_attribute("data-thread-id")
    assert second != first
    until(lambda: page.locator("#threads li").count() == 2)

    page.locator(f"#threads li[data-thread-id='{first}'] .name").click()
    until(lambda: page.locator(".message").count() == 2)
    texts = page.locator(".message .content").all_text_contents()
    assert texts == ["first question", "First answer."]
    # The history came from the server: the model saw nothing of the second thread.
    assert [m.content for m in scripted.calls[-1].prompt.messages] == ["second question"]


def test_rename_and_delete_a_thread(watched, scripted, gateway_url):
    page = watched.page
    scripted.enqueue(["ok"])
    send(page, "a thread to rename")
    until(lambda: status(page) == "done")
    item = page.locator("#threads li.current")
    thread_id = item.get_attribute("data-thread-id")
    item.locator("button.rename").click()
    page.fill("#threads .rename-input", "Tea notes")
    page.press("#threads .rename-input", "Enter")
    until(lambda: page.locator("#threads li.current .name").text_content() == "Tea notes")
    assert page.text_content("#thread-title") == "Tea notes"

    page.locator(f"#threads li[data-thread-id='{thread_id}'] button.delete").click()
    until(lambda: page.locator(f"#threads li[data-thread-id='{thread_id}']").count() == 0)
    import httpx

    assert httpx.get(f"{gateway_url}/v1/threads/{thread_id}", timeout=10).status_code == 404


def test_stop_aborts_the_stream_and_the_core_cancels_the_turn(watched, scripted, caplog):
    caplog.set_level(logging.INFO, logger="core.rpc")
    page = watched.page
    scripted.enqueue([f"word{i} " for i in range(200)], delay=0.05)
    send(page, "a long answer, please")
    until(lambda: len(last_reply(page).locator(".content").text_content() or "") > 20)
    page.click("#stop")
    until(lambda: status(page) == "stopped")

    # The core's access log (core.rpc, one line per RPC) says the call ended cancelled.
    until(lambda: any(r.getMessage().startswith("StreamChat CANCELLED") for r in caplog.records))
    call = scripted.calls[-1]
    until(lambda: call.closed_at is not None)
    assert call.produced < 200  # the core stopped generating
    assert "stopped" in (last_reply(page).locator(".figures").text_content() or "")


def test_model_output_is_shown_as_text_and_runs_nothing(watched, scripted, gateway_url):
    page = watched.page
    payload = "<img src=x onerror=alert(1)> and <script>alert(2)</script>"
    scripted.enqueue(
        [
            BackendChunk(reasoning="<b>thinking</b> <img src=https://example.com/x.png>"),
            "<img src=x ",
            "onerror=alert(1)> and <script>alert(2)</script>",
            BackendChunk(
                tool_calls=(
                    ToolCallDelta(
                        index=0,
                        id="call_1",
                        name="lookup",
                        arguments='{"q": "<img src=x onerror=alert(3)>"}',
                    ),
                )
            ),
        ],
        finish=FinishReason.TOOL_CALLS,
    )
    send(page, "say something dangerous")
    until(lambda: status(page) == "done")
    reply = last_reply(page)
    assert reply.locator(".content").text_content() == payload
    assert reply.locator(".reasoning").text_content().startswith("<b>thinking</b>")
    assert reply.locator(".tool-call").text_content() == (
        'lookup({"q": "<img src=x onerror=alert(3)>"})'
    )
    time.sleep(0.5)  # an onerror handler would have fired by now
    assert page.locator("#messages img, #messages script, #messages b").count() == 0
    assert watched.dialogs == []
    foreign = [url for url in watched.requests if not url.startswith(gateway_url)]
    assert foreign == []


def test_with_keys_on_it_asks_for_one_and_keeps_it_in_session_storage_only(browser, tmp_path):
    scripted = ScriptedBackend()
    with playground_stack(scripted, tmp_path / "threads.db", keys=True) as (_, gateway):
        context = browser.new_context()
        page = context.new_page()
        watched = Watched(page)
        page.goto(gateway.url + "/playground")
        until(lambda: page.locator("#key-dialog[open]").count() == 1)
        page.fill("#key", KEY)
        page.click("#key-form button[type=submit]")
        until(lambda: page.locator(f"#model option[value='{MODEL}']").count() == 1)
        scripted.enqueue(["Hello", " Alice."])
        send(page, "hi")
        until(lambda: status(page) == "done")
        assert last_reply(page).locator(".content").text_content() == "Hello Alice."

        assert page.evaluate("sessionStorage.getItem('chatrpc.playground.key')") == KEY
        local = page.evaluate("JSON.stringify(Object.assign({}, localStorage))")
        assert KEY not in local
        assert context.cookies() == []
        assert not any(KEY in url for url in watched.requests)
        assert watched.dialogs == []
        context.close()

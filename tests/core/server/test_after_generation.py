"""What fails after generation does not make a stored turn look failed: with the rate-limit
store (a real Redis of the test's own) killed mid-stream, the reply completes, the turn is stored
once, and the next turn is refused as UNAVAILABLE before any work. Real core on 127.0.0.1."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

import chatrpc
from core.auth import digest, load_keyring
from core.settings import Settings
from tests.redis_server import redis_binary, started_redis
from tests.servers import CoreThread

KEY = "sk-alice-0123456789abcdef"


async def stream_while_killing(target: str, redis: subprocess.Popen[bytes]) -> list[object]:
    events: list[object] = []
    async with chatrpc.AsyncClient(target, api_key=KEY) as client:
        stream = client.chat_stream("hi", model="scripted", thread_id="t1", timeout=30)
        async for event in stream:
            events.append(event)
            if isinstance(event, chatrpc.StreamStart):
                redis.kill()  # the rate-limit store dies while the reply streams
                redis.wait(5)
        with pytest.raises(chatrpc.UnavailableError):
            await client.chat("again", model="scripted", thread_id="t1", timeout=30)
    return events


@pytest.mark.redis
def test_redis_killed_mid_stream_the_reply_completes_and_is_stored_once(
    catalog, scripted, sqlite_url, tmp_path: Path
) -> None:
    keys = tmp_path / "keys.toml"
    keys.write_text(f'[keys.alice]\nsha256 = "{digest(KEY)}"\ntokens_per_minute = 100000\n')
    scripted.enqueue(["one ", "two ", "three"], delay=0.1)
    with started_redis(redis_binary()) as (url, redis):
        assert url is not None, "redis-server did not start"
        core = CoreThread(
            catalog,
            database_url=sqlite_url,
            keys=load_keyring("required", str(keys), ""),
            settings=Settings(redis_url=url),
        )
        try:
            events = asyncio.run(stream_while_killing(core.target, redis))
            with chatrpc.Client(core.target, api_key=KEY) as client:
                thread = client.get_thread("t1")
        finally:
            core.stop()
    assert any(isinstance(e, chatrpc.StreamFinish) for e in events)
    text = "".join(e.content for e in events if isinstance(e, chatrpc.MessageDelta))
    assert text == "one two three"
    assert [m.message.content for m in thread.messages] == ["hi", "one two three"]

"""Fuzz: no body, query or header sent to the web chat routes gets a 5xx or stops the server.

Hypothesis-generated requests plus a corpus of the cases issue 10 found (lone
surrogates, deep JSON, text/plain, non-object bodies, other channels' ids, typed
intents) go to the real Sanic routes with Rasa's real Agent, lock store and our safe SQL
tracker store on SQLite; the turn itself is test_webchat's RecordingProcessor. After
every batch a normal message must still be answered. The only 5xx allowed is the
documented 503 (a turn that could not be done), which these requests never cause.
"""

from __future__ import annotations

import asyncio
import json
import string
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rasa.core.agent import Agent
from sanic import Sanic

from bot.run import free_port
from bot.tracker_store import SafeSQLTrackerStore
from connectors.webchat import WebChatInput
from tests.connectors.test_webchat import DOMAIN, HOURS, RecordingProcessor, token

pytestmark = pytest.mark.rasa_env

#: Examples per hypothesis test: three tests, ~2,000 requests a run with the corpus (each
#: example of the last test sends two). ~1 min on a loaded 2-core machine.
EXAMPLES = 500

_surrogates = st.integers(0xD800, 0xDFFF).map(chr)
_any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
_text = st.one_of(
    _any_text,
    st.lists(st.one_of(_any_text, _surrogates), max_size=6).map("".join),
    st.sampled_from(
        [
            '/csat_score{"score":5}', "/EXTERNAL_ask_csat", "/restart", "/session_start",
            "/", "  /greet", "whatsapp:38640123456", "telegram:1", "web-" + "a" * 32,
            "x" * 5000, "\x00", "\u202e", "👍",
        ]
    ),
)
_json_scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), _text)
_json = st.recursive(
    _json_scalar,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=12,
)
_body = st.one_of(
    _json,
    st.fixed_dictionaries(
        {"sender": _json, "message": _json},
        optional={"message_id": _json, "metadata": _json, "input_channel": _json},
    ),
)


def _dump(value: Any) -> bytes:
    # surrogatepass: lone surrogates are sent as the JSON escapes a client would write.
    return json.dumps(value, ensure_ascii=True).encode("utf-8", "surrogatepass")


CORPUS: list[tuple[bytes, str]] = [
    (b'{"sender":"x\\ud800","message":"hi"}', "application/json"),
    (b'{"sender":"web-1","message":"\\ud800"}', "application/json"),
    (b'{"sender":"web-1","message":"hi"}', "text/plain"),
    (b'{"sender":"web-1","message":"hi"}', "text/plain;charset=UTF-8"),
    (b"sender=web-1&message=hi", "application/x-www-form-urlencoded"),
    (b"[" * 5000 + b"]" * 5000, "application/json"),
    (b'{"a":' * 5000 + b"1" + b"}" * 5000, "application/json"),
    (b"[1,2]", "application/json"),
    (b"42", "application/json"),
    (b"", "application/json"),
    (b"\xff\xfe\x00{", "application/json"),
    (b"\xef\xbb\xbf{}", "application/json"),
    (_dump({"sender": "web-1", "message": "x" * 1_000_000}), "application/json"),
    (_dump({"sender": "whatsapp:38640123456", "message": "history please"}),
     "application/json"),
    (_dump({"sender": "web-1", "message": '/csat_score{"score":5}'}), "application/json"),
    (_dump({"sender": "web-1", "message": "hi", "message_id": "m-" + "\ud800" * 8}),
     "application/json"),
    (_dump({"sender": "web-1", "message": "hi", "metadata": {"title": "\udfff"}}),
     "application/json"),
    (_dump({"sender": "web-1", "message": "hi", "input_channel": "telegram",
            "metadata": {"is_external": True}}), "application/json"),
]


class Fuzzed:
    """The web chat routes on a real server, and what they answered."""

    def __init__(self, url: str, processor: RecordingProcessor) -> None:
        self.url = url
        self.processor = processor
        self.client = httpx.AsyncClient(timeout=30)
        self.statuses: dict[int, int] = {}

    async def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        resp = await self.client.request(method, f"{self.url}{path}", **kwargs)
        self.statuses[resp.status_code] = self.statuses.get(resp.status_code, 0) + 1
        assert resp.status_code < 500, (path, kwargs, resp.status_code, resp.text)
        return resp

    async def post(self, body: bytes, content_type: str = "application/json") -> None:
        await self.send(
            "POST", "/webhooks/webchat/webhook", content=body,
            headers={"Content-Type": content_type},
        )

    async def still_answers(self) -> None:
        sender = token()
        resp = await self.send(
            "POST", "/webhooks/webchat/webhook",
            json={"sender": sender, "message": "are you there?"},
        )
        assert resp.json() == [{"recipient_id": sender, "text": "echo: are you there?"}]


@pytest.fixture(scope="module")
def loop() -> Any:
    new = asyncio.new_event_loop()
    yield new
    new.close()


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory, loop: Any) -> Any:
    """One server for the whole module (hypothesis runs each example on it)."""
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    agent = Agent(
        domain=DOMAIN,
        tracker_store=SafeSQLTrackerStore(
            DOMAIN, dialect="sqlite", db=str(tmp / "tracker.sqlite3")
        ),
    )
    Sanic.test_mode = True
    app = Sanic("webchat_fuzz")
    app.ctx.agent = agent
    processor = RecordingProcessor(agent.tracker_store)
    app.blueprint(WebChatInput(HOURS).blueprint(processor), url_prefix="/webhooks/webchat")
    port = free_port()

    async def start() -> Any:
        srv = await app.create_server(
            host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False
        )
        await srv.startup()
        return srv

    srv = loop.run_until_complete(start())
    state = Fuzzed(f"http://127.0.0.1:{port}", processor)
    yield state
    loop.run_until_complete(state.client.aclose())
    srv.close()
    loop.run_until_complete(srv.wait_closed())


def test_the_corpus_of_known_attacks_gets_4xx_and_the_bot_still_answers(
    fuzzed: Fuzzed, loop: Any
) -> None:
    async def run() -> None:
        for body, content_type in CORPUS:
            await fuzzed.post(body, content_type)
        await fuzzed.still_answers()

    loop.run_until_complete(run())
    # Only the typed CSAT and the client-chosen channel were processed (as plain text
    # and as web chat): everything else was refused before Rasa.
    texts = [m.text for m in fuzzed.processor.received]
    assert 'csat_score{"score":5}' in texts
    assert all(m.input_channel == "webchat" for m in fuzzed.processor.received)
    assert not any(m.sender_id.startswith("whatsapp:") for m in fuzzed.processor.received)


_FAST = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@_FAST
@given(body=_body)
def test_any_json_body_gets_an_answer_below_500(fuzzed: Fuzzed, loop: Any, body: Any) -> None:
    loop.run_until_complete(fuzzed.post(_dump(body)))


@_FAST
@given(
    sender=_text,
    since=st.one_of(st.none(), _text, st.floats().map(str)),
)
def test_any_history_query_gets_an_answer_below_500(
    fuzzed: Fuzzed, loop: Any, sender: str, since: str | None
) -> None:
    params = {"sender": sender} if since is None else {"sender": sender, "since": since}
    # httpx cannot encode lone surrogates in a URL: send their UTF-8 bytes escaped.
    params = {k: v.encode("utf-8", "surrogatepass").decode("latin-1") for k, v in params.items()}
    loop.run_until_complete(fuzzed.send("GET", "/webhooks/webchat/history", params=params))


@_FAST
@given(language=_text, raw=st.binary(max_size=64), content_type=_text)
def test_any_status_query_and_raw_post_get_an_answer_below_500(
    fuzzed: Fuzzed, loop: Any, language: str, raw: bytes, content_type: str
) -> None:
    language = language.encode("utf-8", "surrogatepass").decode("latin-1")
    loop.run_until_complete(
        fuzzed.send("GET", "/webhooks/webchat/status", params={"language": language})
    )
    header = content_type.encode("utf-8", "surrogatepass").decode("latin-1")
    header = "".join(c for c in header if c in string.printable and c not in "\r\n\t\x0b\x0c")
    header = header.strip()
    loop.run_until_complete(fuzzed.post(raw, header or "application/json"))


def test_after_all_of_it_a_normal_conversation_is_answered(fuzzed: Fuzzed, loop: Any) -> None:
    loop.run_until_complete(fuzzed.still_answers())
    assert set(fuzzed.statuses) <= {200, 400, 413, 415}, fuzzed.statuses

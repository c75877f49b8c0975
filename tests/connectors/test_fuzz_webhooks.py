"""Fuzzing the Telegram and WhatsApp webhooks as the platforms (and strangers) could.

Bodies come from hypothesis strategies (mutated real updates and notifications, random
JSON, raw bytes, lone surrogates, deep nesting) and a corpus of the cases issue 10
found, almost all sent *with a valid secret or signature*, so they get past
authentication to the parser and the store; some carry a wrong or non-ASCII one.
For every body:

* the answer is never a 5xx (only 200, 401, 403, 413, 415);
* nothing is half-stored: the inbound queue grows by exactly the messages the answer
  says were accepted, and the ``rejected`` table by one exactly when the answer says
  ``rejected``;

and afterwards every accepted message was processed (none pending or parked) and a
normal message is still answered. The channel runs in a real Sanic server in a thread of
its own, talking to the platform stand-ins; the turn itself is a no-op until the end.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Generic, TypeVar

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rasa.core.channels.channel import InputChannel, UserMessage

from connectors.durable import ChannelStore
from connectors.telegram import SECRET_HEADER, TelegramInput
from connectors.whatsapp import SIGNATURE_HEADER, WhatsAppInput, sign
from tests.connectors.harness import ChannelHarness
from tests.connectors.standins import GraphAPI, TelegramBotAPI, whatsapp_notification

pytestmark = pytest.mark.rasa_env
C = TypeVar("C", bound=InputChannel)

SECRET = "fuzz-secret_token"
APP_SECRET = "fuzz-app-secret"
#: Examples per hypothesis test: two tests, so ~2,000 bodies with the corpora (raise it
#: with FUZZ_WEBHOOK_EXAMPLES for a longer run).
EXAMPLES = int(os.environ.get("FUZZ_WEBHOOK_EXAMPLES", "1000"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # nothing written into the repository
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
ALLOWED = {200, 401, 403, 413, 415}


class ThreadedChannel(Generic[C]):
    """A channel served from its own thread and event loop, posted to synchronously.

    Hypothesis drives synchronous tests; the channel needs a running loop for its
    worker. Each body is posted with one keep-alive HTTP client and its effect read
    from the state file through a second connection, as an operator would.
    """

    def __init__(self, channel: C, path: str) -> None:
        self.harness: ChannelHarness[C] = ChannelHarness(channel)
        self.harness.reply = self._quiet
        self.path = path
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.http = httpx.Client(timeout=30)
        self.store: ChannelStore | None = None

    @staticmethod
    async def _quiet(message: UserMessage) -> None:
        return None

    def __enter__(self) -> ThreadedChannel[C]:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.harness.__aenter__(), self.loop).result(30)
        state = self.harness.channel.store  # type: ignore[attr-defined]
        self.store = ChannelStore(state.path)  # a second connection, as an operator's
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()
        asyncio.run_coroutine_threadsafe(self.harness.__aexit__(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        if self.store is not None:
            self.store.close()

    def counts(self) -> dict[str, int]:
        assert self.store is not None
        counts = self.store.counts()
        return {"inbound": counts["pending"] + counts["done"] + counts["failed"], **counts}

    def post(self, raw: bytes, headers: dict[str, Any]) -> httpx.Response:
        return self.http.post(
            f"{self.harness.url}{self.path}",
            content=raw,
            headers={"Content-Type": "application/json", **headers},
        )

    def check(self, raw: bytes, headers: dict[str, Any]) -> None:
        """Post one body and assert the answer and the store agree."""
        before = self.counts()
        resp = self.post(raw, headers)
        after = self.counts()
        assert resp.status_code in ALLOWED, (resp.status_code, resp.text, raw[:200])
        answer = resp.json()
        if resp.status_code != 200:
            assert "error" in answer
            assert after["inbound"] == before["inbound"]
            assert after["rejected"] == before["rejected"]
            return
        rejected = answer.get("status") == "rejected"
        assert after["rejected"] - before["rejected"] == (1 if rejected else 0) + answer.get(
            "stale", 0
        )
        accepted = answer.get("accepted", 1 if answer.get("status") == "accepted" else 0)
        assert after["inbound"] - before["inbound"] == accepted, answer

    def settle(self, timeout: float = 60.0) -> None:
        """Wait until the worker has processed every accepted message."""
        deadline = time.monotonic() + timeout
        while self.counts()["pending"]:
            assert time.monotonic() < deadline, f"still pending: {self.counts()}"
            time.sleep(0.05)
        assert self.counts()["failed"] == 0


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Where the fuzzed channels keep their state: memory-backed when the OS has it.

    The store commits with ``synchronous=FULL`` (an fsync per statement, ~7 ms on a
    busy disk here): thousands of bodies would measure the disk, not the channel. The
    code and SQLite are the same on tmpfs; only the fsync is free.
    """
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        folder = Path(tempfile.mkdtemp(prefix="fuzz-webhooks-", dir=shm))
        yield folder
        shutil.rmtree(folder, ignore_errors=True)
    else:
        yield tmp_path_factory.mktemp("fuzz-webhooks")


# ---------------------------------------------------------------------- strategies

#: Text as clients send it, and what no store can keep (lone surrogates, NUL).
texts = st.one_of(
    st.text(max_size=60),
    st.text(st.characters(categories=["Cs"]), min_size=1, max_size=3),
    st.builds(lambda a, b: a + "\x00" + b, st.text(max_size=5), st.text(max_size=5)),
    st.sampled_from(["/start", "/restart", '/csat_score{"score": 5}', "", " ", "é" * 5000]),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    texts,
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(texts, inner, max_size=4)),
    max_leaves=12,
)


def dumps(value: Any) -> bytes:
    """JSON as a platform's encoder writes it (surrogates escaped, so the bytes are UTF-8)."""
    return json.dumps(value).encode()


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def mutate(base: dict[str, Any], path: list[str | int], value: Any) -> dict[str, Any]:
    """``base`` with the field at ``path`` replaced by ``value`` (deep copy)."""
    out = json.loads(json.dumps(base))
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


# -------------------------------------------------------------------- Telegram


def telegram_update(update_id: int, message_id: int, text: Any) -> dict[str, Any]:
    person = {"id": 4242, "is_bot": False, "first_name": "Fuzz", "language_code": "sl"}
    return {
        "update_id": update_id,
        "message": {
            "message_id": message_id,
            "from": person,
            "chat": {"id": 4242, "first_name": "Fuzz", "type": "private"},
            "date": int(time.time()),
            "text": text,
        },
    }


TELEGRAM_PATHS: list[list[str | int]] = [
    ["update_id"],
    ["message"],
    ["message", "text"],
    ["message", "message_id"],
    ["message", "chat"],
    ["message", "chat", "id"],
    ["message", "from"],
    ["message", "from", "language_code"],
    ["message", "date"],
]
telegram_bodies = st.one_of(
    st.builds(
        lambda u, m, t: dumps(telegram_update(u, m, t)),
        st.integers(1, 2**40),
        st.integers(1, 2**31),
        texts,
    ),
    st.builds(
        lambda p, v: dumps(mutate(telegram_update(7, 7, "hi"), p, v)),
        st.sampled_from(TELEGRAM_PATHS),
        json_values,
    ),
    st.builds(dumps, json_values),
    st.binary(max_size=300),
)
telegram_secrets = st.one_of(
    st.just(SECRET).map(lambda s: {SECRET_HEADER: s}),
    st.just(SECRET).map(lambda s: {SECRET_HEADER: s}),
    # any bytes HTTP allows in a header value (visible ASCII and obs-text)
    st.lists(st.integers(0x21, 0x7E) | st.integers(0x80, 0xFF), min_size=1, max_size=40).map(
        lambda b: {SECRET_HEADER: bytes(b)}
    ),
    st.just({}),
)

TELEGRAM_CORPUS: list[tuple[bytes, dict[str, Any]]] = [
    (
        b'{"update_id": 1, "message": {"message_id": 1, "date": 1, "chat": {"id": 1, '
        b'"type": "private"}, "text": "x\\ud800"}}',
        {SECRET_HEADER: SECRET},
    ),
    (b'{"update_id": 2, "x": ' + nested(5000) + b"}", {SECRET_HEADER: SECRET}),
    (nested(5000), {SECRET_HEADER: SECRET}),
    (b'{"update_id": 3, "message": {"text": NaN}}', {SECRET_HEADER: SECRET}),
    (b'{"update_id": 1e400}', {SECRET_HEADER: SECRET}),
    (b'{"update_id": ' + b"9" * 5000 + b"}", {SECRET_HEADER: SECRET}),
    (b'{"update_id": 4, "update_id": "dup"}', {SECRET_HEADER: SECRET}),
    (dumps(telegram_update(5, 5, "hi")), {SECRET_HEADER: "sécret".encode()}),
    (dumps(telegram_update(6, 6, "hi")), {SECRET_HEADER: b"\xff\xfe\xfd"}),
    (dumps(telegram_update(7, 7, "hi")), {SECRET_HEADER: SECRET + "x"}),
    (dumps(telegram_update(8, 8, "hi")) + b"\xff", {SECRET_HEADER: SECRET}),
    (b"\xef\xbb\xbf" + dumps(telegram_update(9, 9, "hi")), {SECRET_HEADER: SECRET}),
    (dumps(telegram_update(10, 10, "x" * 300_000)), {SECRET_HEADER: SECRET}),
    (
        dumps({"update_id": 11, "callback_query": {"id": "q", "data": "\ud800"}}),
        {SECRET_HEADER: SECRET},
    ),
    (b"", {SECRET_HEADER: SECRET}),
    (b"null", {SECRET_HEADER: SECRET}),
]


@pytest.fixture(scope="module")
def telegram(state_dir: Path) -> Iterator[ThreadedChannel[Any]]:
    tmp = state_dir
    with TelegramBotAPI() as api:
        channel = TelegramInput.from_credentials(
            {
                "access_token": api.token,
                "secret_token": SECRET,
                "base_url": api.base_url,
                "state_db": str(tmp / "telegram.sqlite3"),
            }
        )
        with ThreadedChannel(channel, "/webhooks/telegram/webhook") as served:
            served.api = api  # type: ignore[attr-defined]
            yield served


@pytest.mark.parametrize(
    ("raw", "headers"), TELEGRAM_CORPUS, ids=[f"corpus-{i}" for i in range(len(TELEGRAM_CORPUS))]
)
def test_telegram_corpus(
    telegram: ThreadedChannel[Any], raw: bytes, headers: dict[str, Any]
) -> None:
    telegram.check(raw, headers)


@FUZZ
@given(raw=telegram_bodies, headers=telegram_secrets)
def test_telegram_fuzz(telegram: ThreadedChannel[Any], raw: bytes, headers: dict[str, Any]) -> None:
    telegram.check(raw, headers)


def test_telegram_after_the_fuzz_everything_is_processed_and_a_customer_is_answered(
    telegram: ThreadedChannel[Any],
) -> None:
    telegram.settle()
    telegram.harness.reply = telegram.harness.echo
    resp = telegram.post(dumps(telegram_update(2**41, 2**32, "Dober dan")), {SECRET_HEADER: SECRET})
    assert resp.json() == {"status": "accepted"}
    api: TelegramBotAPI = telegram.api  # type: ignore[attr-defined]
    assert api.wait_for("sendMessage", where=lambda c: c.params["text"] == "echo: Dober dan")


# -------------------------------------------------------------------- WhatsApp


def wa_text(wamid: str, body: Any, sender: Any = "38640123456") -> dict[str, Any]:
    return {
        "from": sender,
        "id": wamid,
        "timestamp": str(int(time.time())),
        "type": "text",
        "text": {"body": body},
    }


WA_PATHS: list[list[str | int]] = [
    ["object"],
    ["entry"],
    ["entry", 0, "changes"],
    ["entry", 0, "changes", 0, "field"],
    ["entry", 0, "changes", 0, "value"],
    ["entry", 0, "changes", 0, "value", "metadata"],
    ["entry", 0, "changes", 0, "value", "metadata", "phone_number_id"],
    ["entry", 0, "changes", 0, "value", "messages"],
    ["entry", 0, "changes", 0, "value", "messages", 0],
    ["entry", 0, "changes", 0, "value", "messages", 0, "from"],
    ["entry", 0, "changes", 0, "value", "messages", 0, "id"],
    ["entry", 0, "changes", 0, "value", "messages", 0, "timestamp"],
    ["entry", 0, "changes", 0, "value", "messages", 0, "type"],
    ["entry", 0, "changes", 0, "value", "messages", 0, "text"],
    ["entry", 0, "changes", 0, "value", "messages", 0, "text", "body"],
]
wa_types = st.sampled_from(["interactive", "button", "image", "reaction", "unsupported", "x"])
whatsapp_bodies = st.one_of(
    st.builds(
        lambda n, t: dumps(whatsapp_notification(wa_text(f"wamid.F{n}", t))),
        st.integers(0, 2**40),
        texts,
    ),
    st.builds(
        lambda p, v: dumps(mutate(whatsapp_notification(wa_text("wamid.M", "hi")), p, v)),
        st.sampled_from(WA_PATHS),
        json_values,
    ),
    st.builds(
        lambda kind, payload: dumps(
            whatsapp_notification(wa_text("wamid.K", "x") | {"type": kind, kind: payload})
        ),
        wa_types,
        json_values,
    ),
    st.builds(dumps, json_values),
    st.binary(max_size=300),
)


def signed(raw: bytes) -> dict[str, Any]:
    return {SIGNATURE_HEADER: sign(APP_SECRET, raw)}


WA_CORPUS: list[tuple[bytes, str]] = [
    (dumps(whatsapp_notification(wa_text("wamid.C1", "x\ud800"))), "good"),
    (dumps(whatsapp_notification(wa_text("wamid.C2", "hi", sender="x\udfff"))), "good"),
    (b'{"object": "whatsapp_business_account", "entry": ' + nested(5000) + b"}", "good"),
    (nested(5000), "good"),
    (dumps(whatsapp_notification(wa_text("wamid.C3", "hi") | {"timestamp": "1"})), "good"),
    (dumps(whatsapp_notification(wa_text("wamid.C4", "hi") | {"timestamp": 10**30})), "good"),
    (
        dumps(
            mutate(
                whatsapp_notification(wa_text("wamid.C5", "hi")),
                ["entry", 0, "changes", 0, "value", "metadata", "phone_number_id"],
                "1",
            )
        ),
        "good",
    ),
    (dumps(whatsapp_notification(wa_text("wamid.C6", "hi"))), "é" * 64),
    (dumps(whatsapp_notification(wa_text("wamid.C7", "hi"))), "wrong"),
    (dumps(whatsapp_notification(wa_text("wamid.C8", "hi"))), "none"),
    (b'{"object": NaN}', "good"),
    (dumps(whatsapp_notification(wa_text("wamid.C9", "hi"))) + b"\xff", "good"),
    (dumps(whatsapp_notification(wa_text("wamid.C10", "x" * 300_000))), "good"),
]


def wa_headers(raw: bytes, kind: str) -> dict[str, Any]:
    if kind == "good":
        return signed(raw)
    if kind == "none":
        return {}
    if kind == "wrong":
        return {SIGNATURE_HEADER: sign("another", raw)}
    return {SIGNATURE_HEADER: ("sha256=" + kind).encode()}


@pytest.fixture(scope="module")
def whatsapp(state_dir: Path) -> Iterator[ThreadedChannel[Any]]:
    tmp = state_dir
    with GraphAPI() as graph:
        channel = WhatsAppInput.from_credentials(
            {
                "verify_token": "v",
                "app_secret": APP_SECRET,
                "access_token": graph.access_token,
                "phone_number_id": graph.phone_number_id,
                "graph_base_url": graph.url,
                "api_version": graph.version,
                "state_db": str(tmp / "whatsapp.sqlite3"),
            }
        )
        with ThreadedChannel(channel, "/webhooks/whatsapp/webhook") as served:
            served.graph = graph  # type: ignore[attr-defined]
            yield served


@pytest.mark.parametrize(
    ("raw", "kind"), WA_CORPUS, ids=[f"corpus-{i}" for i in range(len(WA_CORPUS))]
)
def test_whatsapp_corpus(whatsapp: ThreadedChannel[Any], raw: bytes, kind: str) -> None:
    whatsapp.check(raw, wa_headers(raw, kind))


@FUZZ
@given(raw=whatsapp_bodies, kind=st.sampled_from(["good"] * 8 + ["wrong", "ünïcode"]))
def test_whatsapp_fuzz(whatsapp: ThreadedChannel[Any], raw: bytes, kind: str) -> None:
    whatsapp.check(raw, wa_headers(raw, kind))


def test_whatsapp_after_the_fuzz_everything_is_processed_and_a_customer_is_answered(
    whatsapp: ThreadedChannel[Any],
) -> None:
    whatsapp.settle()
    whatsapp.harness.reply = whatsapp.harness.echo
    raw = dumps(whatsapp_notification(wa_text("wamid.AFTER", "Dober dan")))
    assert whatsapp.post(raw, signed(raw)).json()["accepted"] == 1
    graph: GraphAPI = whatsapp.graph  # type: ignore[attr-defined]
    assert graph.wait_for("messages", where=lambda c: c.params["text"]["body"] == "echo: Dober dan")

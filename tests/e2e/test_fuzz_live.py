"""Live fuzz: thousands of hostile bodies at every webhook of one running bot.

One real bot (``make run``'s Bot) with Telegram and WhatsApp switched on against stand-in
platform servers, so their webhooks check real signatures: every Telegram body carries the
right secret header and every WhatsApp body a valid HMAC of exactly the bytes sent, so the
fuzz reaches the parsing behind the signature check. The bodies: a corpus of the cases
from issue 10 (lone surrogates, 5,000-deep JSON, huge bodies, text/plain, non-object JSON,
``whatsapp:`` senders on the web chat, typed ``/restart`` ...) plus hypothesis strategies.

The contract, for every request: no 5xx except the documented 503 (a turn that could not
be completed, a disabled channel); afterwards every part is still the process it was (a
supervisor restart counts as a failure) and a normal conversation is answered. Failures
are collected per webhook and reported together, so one run shows every broken edge.

Cost: most bodies are refused at validation (milliseconds); the strategies make only a
small share of them into real turns. About 5,500 requests, a few minutes on 2 cores.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from bot.inbox.auth import hash_password
from bot.run import Bot
from tests.conftest import write_settings
from tests.connectors.standins import GraphAPI, TelegramBotAPI, whatsapp_notification
from tests.e2e.conftest import say, texts
from tests.e2e.test_channels import (
    SECRET_HEADER,
    TG_SECRET,
    WA_SECRET,
    start_channel_bot,
)

#: The whole run must send at least this many requests (checked at the end).
MINIMUM_REQUESTS = 5000
#: 503 is the documented "not now, retry" answer; every other 5xx is a bug.
ALLOWED_5XX = {503}
AGENT_PASSWORD = "correct horse battery staple"


@dataclass
class Fuzz:
    """The running bot, one keep-alive client, and what went wrong where."""

    bot: Bot
    client: httpx.Client
    pids: dict[str, int]
    sent: int = 0
    failures: dict[str, list[str]] = field(default_factory=dict)

    def request(
        self, method: str, url: str, label: str, *, content: bytes | None = None,
        headers: dict[str, Any] | None = None,
    ) -> httpx.Response | None:
        """Send one request; record a 5xx (other than 503) or no answer under ``label``."""
        self.sent += 1
        try:
            resp = self.client.request(method, url, content=content, headers=headers,
                                       timeout=120)
        except httpx.TransportError as exc:
            self._fail(label, f"no answer ({type(exc).__name__}) to {_show(content, url)}")
            return None
        if resp.status_code >= 500 and resp.status_code not in ALLOWED_5XX:
            self._fail(label, f"{resp.status_code} for {_show(content, url)}: "
                              f"{resp.text[:120]!r}")
        return resp

    def _fail(self, label: str, what: str) -> None:
        self.failures.setdefault(label, []).append(what)

    def assert_clean(self, *labels: str) -> None:
        found = {k: v for k, v in self.failures.items() if k in labels}
        assert not found, "\n".join(
            f"{label}: {len(v)} failures, e.g.\n  " + "\n  ".join(v[:5])
            for label, v in found.items()
        )

    def url(self, path: str) -> str:
        return f"{self.bot.config.rasa_url}{path}"


def _show(content: bytes | None, url: str) -> str:
    text = repr(content) if content is not None else url
    return text if len(text) <= 160 else f"{text[:160]}... ({len(text)} chars)"


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzz]:
    tmp = tmp_path_factory.mktemp("fuzz")
    with TelegramBotAPI() as telegram, GraphAPI() as graph:
        settings_file = write_settings(
            tmp,
            inbox={"agents": [{"name": "maja", "display_name": "Maja",
                               "password_hash": hash_password(AGENT_PASSWORD),
                               "languages": ["en"], "queues": ["*"]}]},
        )
        bot = start_channel_bot(tmp, telegram, graph, settings=settings_file)
        with bot, httpx.Client() as client:
            yield Fuzz(bot, client, dict(bot.pids()))


FUZZ_SETTINGS = settings(
    deadline=None,
    database=None,
    phases=[Phase.generate],  # failures are collected, not shrunk against a live server
    suppress_health_check=list(HealthCheck),
)

# --------------------------------------------------------------------------- strategies

SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, exclude_categories=())
ANY_CHAR = st.one_of(st.characters(exclude_categories=()), SURROGATES)
NASTY_TEXT = st.one_of(
    st.text(ANY_CHAR, max_size=40),
    st.sampled_from(["/restart", "/session_start", "/EXTERNAL_ask_csat",
                     '/csat_score{"score": 5}', "/request_human", "\x00", "\u202e",
                     "a" * 5000, "whatsapp:38640111222", "telegram:1"]),
)
JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), NASTY_TEXT)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(NASTY_TEXT, inner, max_size=4)),
    max_leaves=12,
)
NON_STRINGS = JSON_VALUES.filter(lambda v: not isinstance(v, str))
BAD_SENDERS = st.one_of(
    st.sampled_from(["", "whatsapp:38640111222", "telegram:123456", "x\ud800", "a" * 5000,
                     " ", "\x00", "../../etc/passwd", "web:"]),
    JSON_SCALARS,
)


def webchat_bodies() -> st.SearchStrategy[dict[str, Any]]:
    """Web chat bodies; one in twenty is a valid message (a real turn, costlier).

    The share is drawn explicitly: left to ``one_of``, hypothesis made 40 % of them turns.
    """
    valid_sender = st.from_regex(r"\Afuzz-[a-z0-9]{6}\Z")
    extras = {
        "message_id": st.one_of(NASTY_TEXT, st.from_regex(r"\A[a-z0-9]{8,12}\Z")),
        "metadata": JSON_VALUES,
        "input_channel": st.sampled_from(["telegram", "whatsapp", "rest"]),
    }
    bad_sender = st.fixed_dictionaries(
        {}, optional={"sender": BAD_SENDERS, "message": st.one_of(NASTY_TEXT, JSON_VALUES),
                      **extras}
    )
    bad_message = st.fixed_dictionaries(
        {"sender": valid_sender,
         "message": NON_STRINGS},
        optional=extras,
    )
    valid = st.fixed_dictionaries(
        {"sender": valid_sender, "message": st.text(ANY_CHAR, min_size=1, max_size=30)},
        optional=extras,
    )
    return st.integers(0, 19).flatmap(
        lambda k: valid if k == 0 else bad_message if k < 6 else bad_sender
    )


def encoded(fields: dict[str, Any]) -> str:
    """``?a=b&...`` percent-encoded as UTF-8; a lone surrogate becomes %ED%A0%80 and so on.

    What a sloppy client sends; httpx itself refuses to encode such strings.
    """
    return "?" + urlencode(fields, encoding="utf-8", errors="surrogatepass")


def raw_json(value: Any) -> bytes:
    """``value`` as JSON bytes; lone surrogates become ``\\udXXX`` escapes, as a client sends."""
    return json.dumps(value, ensure_ascii=True, allow_nan=True).encode()


def deep(n: int, kind: str = "list") -> bytes:
    return (b"[" * n + b"]" * n) if kind == "list" else (b'{"a":' * n + b"1" + b"}" * n)


#: Raw bodies every JSON webhook gets, from the issue's list.
RAW_CORPUS: list[tuple[bytes, str]] = [
    (b"", "application/json"),
    (b"{", "application/json"),
    (b"null", "application/json"),
    (b"[]", "application/json"),
    (b'"hi"', "application/json"),
    (b"42", "application/json"),
    (b"NaN", "application/json"),
    (b"\xff\xfe\xfd", "application/json"),
    (b'{"sender": "\xed\xa0\x80", "message": "hi"}', "application/json"),
    (b'{"sender":"x\\ud800","message":"hi"}', "application/json"),
    (b'{"sender":"fuzz-sur","message":"\\udfff\\ud800"}', "application/json"),
    (b'{"sender":"fuzz-plain","message":"hi"}', "text/plain"),
    (b'{"sender":"fuzz-form","message":"hi"}', "application/x-www-form-urlencoded"),
    (b'{"sender":"fuzz-nul\\u0000","message":"hi"}', "application/json"),
    (deep(5000), "application/json"),
    (deep(5000, "object"), "application/json"),
    (deep(100_000), "application/json"),
    (b'{"sender":"fuzz-huge","message":"' + b"a" * 1_000_000 + b'"}', "application/json"),
    (b"x" * 3_000_000, "application/json"),
    (b'{"sender":"fuzz-deepmeta","message":"hi","metadata":' + deep(5000, "object") + b"}",
     "application/json"),
    (b'{"sender":' + b"1" * 5000 + b',"message":"hi"}', "application/json"),
    (b'{"sender":"fuzz-dup","sender":"whatsapp:1","message":"hi"}', "application/json"),
]
#: Typed internal intents and foreign ids on the web chat: answered as text or refused.
WEBCHAT_CORPUS: list[dict[str, Any]] = [
    {"sender": "whatsapp:38640111222", "message": "hi"},
    {"sender": "telegram:123456", "message": "hi"},
    {"sender": "fuzz-typed1", "message": "/restart"},
    {"sender": "fuzz-typed2", "message": "/session_start"},
    {"sender": "fuzz-typed3", "message": "/EXTERNAL_ask_csat"},
    {"sender": "fuzz-typed4", "message": '/csat_score{"score": 5, "ticket": 1}'},
    {"sender": "fuzz-chan", "message": "hi", "input_channel": "whatsapp"},
    {"sender": "fuzz-meta", "message": "hi", "metadata": [1, 2]},
    {"sender": "fuzz-meta2", "message": "hi", "metadata": {"language": "\ud800"}},
    {"sender": "fuzz-id", "message": "hi", "message_id": "\ud800" * 10},
    {"sender": "fuzz-long", "message": "ä" * 100_000},
]


# ------------------------------------------------------------------------------ web chat


def _post_json(fuzz: Fuzz, path: str, label: str, body: bytes, ctype: str,
               extra: dict[str, str] | None = None) -> httpx.Response | None:
    return fuzz.request("POST", fuzz.url(path), label, content=body,
                        headers={"Content-Type": ctype, **(extra or {})})


@pytest.mark.parametrize("path", ["/webhooks/webchat/webhook"])
def test_message_webhooks_survive_the_corpus(fuzz: Fuzz, path: str) -> None:
    for raw, ctype in RAW_CORPUS:
        _post_json(fuzz, path, path, raw, ctype)
    for body in WEBCHAT_CORPUS:
        _post_json(fuzz, path, path, raw_json(body), "application/json")
    fuzz.assert_clean(path)


@pytest.mark.parametrize(
    ("path", "examples"),
    [("/webhooks/webchat/webhook", 2200)],
)
def test_message_webhooks_survive_generated_bodies(
    fuzz: Fuzz, path: str, examples: int
) -> None:
    @settings(FUZZ_SETTINGS, max_examples=examples)
    @given(body=st.one_of(webchat_bodies(), JSON_VALUES),
           ctype=st.sampled_from(["application/json"] * 8 + ["text/plain", ""]))
    def post(body: Any, ctype: str) -> None:
        _post_json(fuzz, path, path, raw_json(body), ctype)

    post()
    fuzz.assert_clean(path)


def test_history_and_status_survive_generated_queries(fuzz: Fuzz) -> None:
    label = "webchat history/status"
    corpus = [
        {"sender": "whatsapp:38640111222"}, {"sender": "x\ud800"}, {"sender": ""},
        {"sender": "a" * 20_000}, {"sender": "fuzz-a", "since": "nan"},
        {"sender": "fuzz-a", "since": "inf"}, {"sender": "fuzz-a", "since": "-1e309"},
        {"sender": "fuzz-a", "since": "1" * 400}, {},
    ]
    for params in corpus:
        fuzz.request("GET", fuzz.url("/webhooks/webchat/history") + encoded(params), label)
    for raw in ["%ED%A0%80", "%FF", "%00", "a%", "sender=%ff&since=%ff"]:
        fuzz.request("GET", fuzz.url("/webhooks/webchat/history") + "?sender=" + raw, label)
        fuzz.request("GET", fuzz.url("/webhooks/webchat/status") + "?language=" + raw, label)

    @settings(FUZZ_SETTINGS, max_examples=600)
    @given(sender=NASTY_TEXT, since=st.one_of(NASTY_TEXT, st.floats().map(str)),
           language=NASTY_TEXT)
    def query(sender: str, since: str, language: str) -> None:
        fuzz.request("GET", fuzz.url("/webhooks/webchat/history")
                     + encoded({"sender": sender, "since": since}), label)
        fuzz.request("GET", fuzz.url("/webhooks/webchat/status")
                     + encoded({"language": language}), label)

    query()
    fuzz.assert_clean(label)


# ------------------------------------------------------------------------------ Telegram

TG_PATH = "/webhooks/telegram/webhook"


def tg_update(update_id: int, chat: int, text: Any) -> dict[str, Any]:
    return {"update_id": update_id, "message": {
        "message_id": update_id % 100_000, "date": int(time.time()),
        "from": {"id": chat, "is_bot": False, "first_name": "F", "language_code": "en"},
        "chat": {"id": chat, "first_name": "F", "type": "private"}, "text": text}}


def tg_press(update_id: int, chat: int, data: Any) -> dict[str, Any]:
    return {"update_id": update_id, "callback_query": {
        "id": f"cq{update_id}", "chat_instance": "1", "data": data,
        "from": {"id": chat, "is_bot": False, "first_name": "F"},
        "message": {"message_id": 1, "date": int(time.time()),
                    "chat": {"id": chat, "type": "private"}, "text": "?"}}}


def test_telegram_webhook_survives_signed_fuzz(fuzz: Fuzz) -> None:
    label = "telegram"
    signed = {SECRET_HEADER: TG_SECRET}
    for raw, ctype in RAW_CORPUS:
        _post_json(fuzz, TG_PATH, label, raw, ctype, signed)
    for body in [tg_update(900_001, 71, "x\ud800"), tg_update(900_002, 72, "/restart"),
                 tg_update(900_003, 73, {"a": 1}), tg_update(-1, 74, "hi"),
                 tg_update(2**70, 75, "hi"), tg_press(900_004, 76, '/csat_score{"score":5}'),
                 tg_press(900_005, 77, "/EXTERNAL_ask_csat"), {"update_id": "x"}]:
        _post_json(fuzz, TG_PATH, label, raw_json(body), "application/json", signed)
    # Wrong, missing and non-ASCII secret headers: refused, never a 500.
    body = raw_json(tg_update(900_006, 78, "hi"))
    for header in [b"wrong", b"", "čšž-secret".encode(), b"\xff", TG_SECRET.encode() + b"\xc4"]:
        fuzz.request("POST", fuzz.url(TG_PATH), label, content=body,
                     headers={"Content-Type": "application/json", SECRET_HEADER: header})
    _post_json(fuzz, TG_PATH, label, body, "application/json")

    ids = iter(range(1_000_000, 2_000_000))
    turn = st.one_of(
        st.builds(lambda c, t: tg_update(next(ids), c, t), st.integers(1, 10**6), NASTY_TEXT),
        st.builds(lambda c, d: tg_press(next(ids), c, d), st.integers(1, 10**6), NASTY_TEXT),
    )
    broken = st.builds(lambda c, t: tg_update(next(ids), c, t), st.integers(), NON_STRINGS)

    # One in twenty a real turn (see webchat_bodies).
    @settings(FUZZ_SETTINGS, max_examples=800)
    @given(body=st.integers(0, 19).flatmap(
        lambda k: turn if k == 0 else broken if k < 6 else JSON_VALUES))
    def post(body: Any) -> None:
        _post_json(fuzz, TG_PATH, label, raw_json(body), "application/json", signed)

    post()
    fuzz.assert_clean(label)


# ------------------------------------------------------------------------------ WhatsApp

WA_PATH = "/webhooks/whatsapp/webhook"


def wa_signed(raw: bytes, secret: str = WA_SECRET) -> dict[str, str]:
    return {"X-Hub-Signature-256":
            "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()}


def wa_text(sender: Any, text: Any, timestamp: Any = None) -> dict[str, Any]:
    return whatsapp_notification({
        "from": sender, "id": f"wamid.{time.monotonic_ns()}", "type": "text",
        "timestamp": str(int(time.time())) if timestamp is None else timestamp,
        "text": {"body": text}})


def test_whatsapp_webhook_survives_signed_fuzz(fuzz: Fuzz) -> None:
    label = "whatsapp"
    for raw, ctype in RAW_CORPUS:
        _post_json(fuzz, WA_PATH, label, raw, ctype, wa_signed(raw))
    other_number = wa_text("38640111222", "hi")
    other_number["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = "999"
    for body in [wa_text("38640111222", "x\ud800"), wa_text("38640111222", "/restart"),
                 wa_text("x\ud800", "hi"), wa_text("38640111222", "hi", timestamp="1"),
                 wa_text("38640111222", "hi", timestamp="x"), wa_text(123, ["hi"]),
                 other_number, {"object": "whatsapp_business_account", "entry": "x"}]:
        raw = raw_json(body)
        _post_json(fuzz, WA_PATH, label, raw, "application/json", wa_signed(raw))
    raw = raw_json(wa_text("38640111222", "hi"))
    for signature in [b"sha256=" + b"0" * 64, b"sha256=zz", b"", "sha256=čšž".encode(),
                      b"md5=00", b"sha256=\xff" * 3]:
        fuzz.request("POST", fuzz.url(WA_PATH), label, content=raw, headers={
            "Content-Type": b"application/json", "X-Hub-Signature-256": signature})
    for params in [{"hub.mode": "subscribe", "hub.verify_token": "čšž", "hub.challenge": "1"},
                   {"hub.mode": "\ud800"}, {}]:
        fuzz.request("GET", fuzz.url(WA_PATH) + encoded(params), label)

    @settings(FUZZ_SETTINGS, max_examples=800)
    @given(body=st.integers(0, 19).flatmap(
        lambda k: st.builds(wa_text, st.from_regex(r"\A386\d{8}\Z"), NASTY_TEXT) if k == 0
        else st.builds(wa_text, JSON_VALUES, NON_STRINGS) if k < 6 else JSON_VALUES))
    def post(body: Any) -> None:
        raw = raw_json(body)
        _post_json(fuzz, WA_PATH, label, raw, "application/json", wa_signed(raw))

    post()
    fuzz.assert_clean(label)


# ------------------------------------------------------------------------------ inbox


def test_inbox_forms_survive_fuzz(fuzz: Fuzz) -> None:
    label = "inbox"
    inbox = fuzz.bot.config.inbox_url

    def login_post(form: dict[str, Any], csrf: bool) -> None:
        fuzz.client.cookies.clear()  # no session or form token from the previous one
        if csrf:  # the form token and its cookie, as a browser has them
            page = fuzz.client.get(f"{inbox}/login", timeout=60)
            token = page.text.split('name="csrf" value="', 1)[-1].split('"', 1)[0]
            form = {**form, "csrf": token}
        fuzz.request("POST", f"{inbox}/login", label, content=encoded(form)[1:].encode(),
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        fuzz.client.cookies.clear()

    for path in ["/login?next=%ED%A0%80", "/login?next=//evil.example", "/tickets/%00",
                 "/tickets/LU-1", "/tickets/LU-99999999999999999999", "/tickets?queue=%FF",
                 "/tickets/LU-1/turns?since=nan", "/tickets?msg=<script>&draft=x"]:
        fuzz.request("GET", f"{inbox}{path}", label)
    for raw in [b"\xff\xfe", b"name=%ED%A0%80&password=x", b"a" * 2_000_000, b"=&=&&="]:
        fuzz.request("POST", f"{inbox}/login", label, content=raw,
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    # With a valid form token the password is checked (scrypt: kept to a few dozen).
    for name, password in [("maja", "wrong"), ("maja\ud800", "x"), ("", ""),
                           ("a" * 10_000, "b" * 100_000), ("MAJA", AGENT_PASSWORD)]:
        login_post({"name": name, "password": password}, csrf=True)

    @settings(FUZZ_SETTINGS, max_examples=300)
    @given(form=st.dictionaries(st.sampled_from(["name", "password", "next", "csrf"]),
                                NASTY_TEXT))
    def post(form: dict[str, str]) -> None:
        login_post(form, csrf=False)

    post()

    @settings(FUZZ_SETTINGS, max_examples=30)
    @given(name=NASTY_TEXT, password=NASTY_TEXT, next_url=NASTY_TEXT)
    def checked(name: str, password: str, next_url: str) -> None:
        login_post({"name": name, "password": password, "next": next_url}, csrf=True)

    checked()
    fuzz.assert_clean(label)


# ------------------------------------------------------------------------------ after


def test_every_part_survived_and_a_customer_is_still_answered(fuzz: Fuzz) -> None:
    bot = fuzz.bot
    assert bot.deaths() == [], bot.deaths()  # a supervisor restart is a failure here
    assert bot.pids() == fuzz.pids
    assert texts(say(bot, "fuzz-after", "hello"))
    assert fuzz.sent >= MINIMUM_REQUESTS, f"only {fuzz.sent} requests were sent"

"""Inbox fixtures: the real inbox app on 127.0.0.1, a real SQLite ticket store, and a
stand-in Rasa server that speaks the parts of Rasa's HTTP API the inbox uses.

The stand-in keeps a tracker (event list) per conversation, checks the bearer JWT as
``rasa run --jwt-secret`` does (PyJWT, HS256, role admin), declares its routes as Rasa
does (``<conversation_id:path>``: Sanic hands the raw, undecoded path segment over), and
records every call, so a test can assert what reached "Rasa" and add customer messages
as Rasa would record them.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import jwt
import pytest
from sanic import Request, Sanic, response
from sanic.response import HTTPResponse

from bot.inbox.app import InboxApp, build_app
from bot.inbox.auth import hash_password
from bot.inbox.cli import metrics_function
from bot.inbox.config import Agent, InboxSettings
from bot.inbox.rasa_api import RasaClient
from bot.inbox.service import Inbox
from bot.inbox.sessions import SessionStore
from bot.run import free_port
from bot.tickets.model import TicketDraft, Turn
from bot.tickets.store import SQLiteTicketStore

TOKEN = "test-token-" + secrets.token_hex(16)
PASSWORD = "correct horse battery"
#: Ticket turns happened an hour ago; the stand-in stamps new messages with now.
T0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)


@pytest.fixture(scope="session")
def password_hash() -> str:
    return hash_password(PASSWORD)


@pytest.fixture(scope="session")
def agents(password_hash: str) -> dict[str, Agent]:
    """maja: Slovenian queues; sam: English billing; lea: everything, reads English."""
    return {
        "maja": Agent("maja", password_hash, ("sl", "en"), ("*-sl",), "Maja"),
        "sam": Agent("sam", password_hash, ("en",), ("billing-en",)),
        "lea": Agent("lea", password_hash, ("en",), ("*",)),
    }


@dataclass
class StandInRasa:
    """Rasa's HTTP API as the inbox sees it: trackers in memory, calls recorded."""

    url: str = ""
    trackers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    calls: list[tuple[str, str, dict[str, str], Any]] = field(default_factory=list)
    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    fail_with: int | None = None
    #: Answer as if Rasa had acted on this conversation instead (a misrouted call).
    answer_for: str | None = None
    #: The Authorization header of every call (the token must travel only there).
    auth: list[str] = field(default_factory=list)

    def customer_says(
        self, conversation: str, text: str, **extra: Any
    ) -> dict[str, Any]:
        event = {
            "event": "user",
            "timestamp": time.time(),
            "text": text,
            "input_channel": "webchat",
            "message_id": secrets.token_hex(8),
            "parse_data": {
                "intent": {"name": "order_status", "confidence": 0.91},
                "language": {"language": "sl", "confidence": 0.99},
            },
            **extra,
        }
        self.trackers.setdefault(conversation, []).append(event)
        return event

    def app(self) -> Sanic:
        app = Sanic(f"standin_rasa_{secrets.token_hex(4)}", configure_logging=False)
        app.config.TOUCHUP = False

        def denied(request: Request) -> HTTPResponse | None:
            if self.fail_with:
                return response.json({"message": "boom"}, status=self.fail_with)
            self.auth.append(request.headers.get("authorization", ""))
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            try:
                claims = jwt.decode(token, TOKEN, algorithms=["HS256"])
            except jwt.PyJWTError:
                claims = None
            if scheme != "Bearer" or claims is None:
                return response.json(
                    {"message": "User is not authenticated."}, status=401
                )
            if claims.get("user", {}).get("role") != "admin":
                return response.json(
                    {"message": "User has insufficient permissions."}, status=403
                )
            return None

        def state(cid: str) -> dict[str, Any]:
            paused = False
            for e in self.trackers.get(cid, []):
                if e["event"] in ("pause", "resume"):
                    paused = e["event"] == "pause"
            return {
                "sender_id": self.answer_for or cid,
                "paused": paused,
                "events": self.trackers.get(cid, []),
            }

        @app.post("/conversations/<cid:path>/tracker/events")
        async def events(request: Request, cid: str) -> HTTPResponse:
            self.calls.append(("events", cid, _args(request), request.json))
            if (bad := denied(request)) is not None:
                return bad
            new = request.json if isinstance(request.json, list) else [request.json]
            for e in new:
                e.setdefault("timestamp", time.time())
            self.trackers.setdefault(cid, []).extend(new)
            if request.args.get("execute_side_effects") == "true":
                self.sent.extend((cid, e) for e in new if e["event"] == "bot")
            return response.json(state(cid))

        @app.post("/conversations/<cid:path>/trigger_intent")
        async def trigger(request: Request, cid: str) -> HTTPResponse:
            self.calls.append(("trigger_intent", cid, _args(request), request.json))
            if (bad := denied(request)) is not None:
                return bad
            name = request.json["name"]
            self.trackers.setdefault(cid, []).append(
                {
                    "event": "user",
                    "timestamp": time.time(),
                    "text": f"EXTERNAL: {name}",
                    "metadata": {"is_external": True},
                    "parse_data": {"intent": {"name": name}},
                }
            )
            return response.json({"tracker": state(cid)})

        @app.get("/conversations/<cid:path>/tracker")
        async def tracker(request: Request, cid: str) -> HTTPResponse:
            self.calls.append(("tracker", cid, _args(request), None))
            if (bad := denied(request)) is not None:
                return bad
            return response.json(state(cid))

        return app

    def kinds(self, conversation: str) -> list[str]:
        """The events the inbox posted for a conversation, e.g. ["pause", "bot"]."""
        return [
            e["event"]
            for kind, cid, _, body in self.calls
            if kind == "events" and cid == conversation and self.fail_with is None
            for e in body
        ]


def _args(request: Request) -> dict[str, str]:
    return {key: request.args.get(key) for key in request.args}


async def _serve(app: Sanic) -> tuple[str, Any]:
    port = free_port()
    server = await app.create_server(
        host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False
    )
    assert server is not None
    await server.startup()
    await server.after_start()
    return f"http://127.0.0.1:{port}", server


async def _stop(server: Any) -> None:
    await server.before_stop()
    await server.close()
    await server.after_stop()


@pytest.fixture()
async def rasa() -> AsyncIterator[StandInRasa]:
    stand_in = StandInRasa()
    stand_in.url, server = await _serve(stand_in.app())
    yield stand_in
    await _stop(server)


@dataclass
class RunningInbox:
    url: str
    store: SQLiteTicketStore
    rasa: StandInRasa
    ctx: InboxApp

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, follow_redirects=False, timeout=10)


def sl_draft(conversation: str = "web-sl-1", **kw: Any) -> TicketDraft:
    """A Slovenian ticket as the escalation action writes it."""
    values: dict[str, Any] = {
        "conversation_id": conversation,
        "channel": "webchat",
        "customer_id": conversation,
        "language": "sl",
        "reason": "asked_for_human",
        "queue": "orders-sl",
        "transcript": [
            Turn(
                T0,
                "customer",
                "Moj paket še ni prišel",
                "sl",
                translation="My parcel has not arrived yet",
                intent="order_status",
                confidence=0.93,
                message_id="m1",
                channel="webchat",
            ),
            Turn(
                T0 + timedelta(seconds=1),
                "bot",
                "Sledenje paketu ...",
                "sl",
                kb_articles=("order-tracking",),
            ),
            Turn(
                T0 + timedelta(seconds=2),
                "customer",
                "želim govoriti z operaterjem",
                "sl",
                intent="request_human",
                confidence=0.97,
                message_id="m2",
            ),
        ],
    }
    values.update(kw)
    return TicketDraft(**values)


@pytest.fixture()
async def inbox(
    tmp_path: Any, rasa: StandInRasa, agents: dict[str, Agent]
) -> AsyncIterator[RunningInbox]:
    store = SQLiteTicketStore(tmp_path / "tickets.sqlite3")
    sessions = SessionStore.beside(store)
    client = RasaClient(rasa.url, TOKEN)
    ctx = InboxApp(
        settings=InboxSettings(agents=agents),
        inbox=Inbox(store, client, clock=lambda: datetime.now(timezone.utc)),
        sessions=sessions,
        clock=lambda: datetime.now(timezone.utc),
        background_sync=False,
        metrics=metrics_function(),
    )
    url, server = await _serve(build_app(ctx, name=f"inbox_{secrets.token_hex(4)}"))
    yield RunningInbox(url, store, rasa, ctx)
    await _stop(server)
    await client.aclose()
    sessions.close()
    store.close()


async def login(
    client: httpx.AsyncClient, name: str, password: str = PASSWORD
) -> httpx.Response:
    """Log in through the form, CSRF token and all; returns the POST's response."""
    page = await client.get("/login")
    token = _hidden(page.text, "csrf")
    return await client.post(
        "/login",
        data={"name": name, "password": password, "csrf": token, "next": "/tickets"},
    )


def _hidden(html: str, name: str) -> str:
    marker = f'name="{name}" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


async def csrf_of(client: httpx.AsyncClient, path: str) -> str:
    """The CSRF token a logged-in page puts in its forms."""
    page = await client.get(path)
    assert page.status_code == 200, page.text
    return _hidden(page.text, "csrf")

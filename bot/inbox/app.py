"""The inbox web app (Sanic + Jinja2, server-rendered, one small script for live turns).

Routes (every page but /login and /health needs a session; every POST a CSRF token):

``GET /tickets``                 the agent's queues, filtered by status, queue,
                                 language, priority, after-hours, "mine"
``GET /tickets/<n>``             transcript (+ translation into the agent's language),
                                 intents, KB articles, notes, reply and resolve
``GET /tickets/<n>/turns?after=k`` JSON: turns from index k (the page polls it; reading
                                 it also pulls new customer messages from Rasa)
``POST /tickets/<n>/assign|reply|note|resolve``
``GET /metrics``                 ticket metrics of the agent's queues
``GET /health``                  {"status": "ok"} for bot.run's supervisor

Errors: 400/403/404/409/413/429 with a page (or JSON for /turns) that says why; a form
that failed keeps what the agent typed. Customer text is only ever rendered through
Jinja2's autoescape or the script's ``textContent``.

Hardening (issue 10): sessions live server-side (bot.inbox.sessions) and end on logout;
failed logins are throttled per account and per client address before scrypt runs
(bot.inbox.auth.LoginThrottle); a ticket in a queue the agent may not see answers the
same 404 as a ticket that does not exist; banners are one-shot flash messages stored
with the session, never text from the URL; cookies get ``Secure`` when
``inbox.secure_cookies`` is on (behind TLS).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from sanic import Request, Sanic, response
from sanic.response import HTTPResponse

from bot.errors import SupportBotError
from bot.inbox import auth
from bot.inbox.config import Agent, InboxSettings
from bot.inbox.service import Inbox, InboxError
from bot.inbox.sessions import SessionStore
from bot.inbox.translation import NoTranslation, Translator
from bot.tickets.metrics import format_duration
from bot.tickets.model import PRIORITIES, STATUSES, Ticket, Turn, parse_ref

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "inbox_session"
LOGIN_CSRF_COOKIE = "inbox_login_csrf"
#: Tickets fetched per list page before the agent's queue permission filters them.
LIST_FETCH = 500
LIST_SHOWN = 100
MAX_FORM_BYTES = 64 * 1024

MetricsFunc = Callable[[list[Ticket]], Mapping[str, Any]]


@dataclass
class InboxApp:
    """Everything the routes need; ``build_app`` turns it into a Sanic app."""

    settings: InboxSettings
    inbox: Inbox
    sessions: SessionStore
    clock: Callable[[], datetime]
    timezone: tzinfo = timezone.utc
    translator: Translator = field(default_factory=NoTranslation)
    metrics: MetricsFunc | None = None
    #: Read open conversations from Rasa every ``settings.poll_seconds``.
    background_sync: bool = True
    throttle: auth.LoginThrottle = field(default_factory=auth.LoginThrottle)
    _translations: dict[tuple[str, str, str], str | None] = field(default_factory=dict)

    def translate(self, text: str, source: str | None, target: str) -> str | None:
        if not source or source == target or not text.strip():
            return None
        key = (text, source, target)
        if key not in self._translations:
            if len(self._translations) > 10_000:
                self._translations.clear()
            self._translations[key] = self.translator.translate(text, source, target)
        return self._translations[key]


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,  # customer text is data: a <script> in a message stays text
        undefined=jinja2.StrictUndefined,
    )
    return env


def build_app(ctx: InboxApp, name: str = "supportbot_inbox") -> Sanic:
    """The Sanic app for ``ctx``; ``name`` must be unique within a process."""
    app = Sanic(name, configure_logging=False)
    app.config.REQUEST_MAX_SIZE = MAX_FORM_BYTES
    app.config.KEEP_ALIVE_TIMEOUT = 5
    # Sanic's "touchup" rewrites handler source at start-up; it fails for the second app
    # started in one process (the tests run several) and buys nothing measurable here.
    app.config.TOUCHUP = False
    env = _env()
    app.static("/static", HERE / "static", name="static")

    def now() -> datetime:
        return ctx.clock()

    def local(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        return value.astimezone(ctx.timezone).strftime(fmt) if value else ""

    env.filters["local"] = local
    env.filters["duration"] = _duration

    def render(template: str, status: int = 200, **values: Any) -> HTTPResponse:
        html = env.get_template(template).render(**values)
        return response.html(
            html,
            status=status,
            headers={
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
                "X-Frame-Options": "DENY",
                "Referrer-Policy": "same-origin",
                "Content-Security-Policy": (
                    "default-src 'self'; script-src 'self'; style-src 'self'; "
                    "img-src 'self'; form-action 'self'; frame-ancestors 'none'"
                ),
            },
        )

    def stamp_of(name: str) -> str | None:
        agent = ctx.settings.agents.get(name)
        return auth.credential_stamp(agent.password_hash) if agent else None

    async def session_of(request: Request) -> tuple[auth.Session, Agent] | None:
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            return None
        session = await ctx.inbox.blocking(ctx.sessions.get, token, stamp_of, now())
        if session is None:
            return None
        agent = ctx.settings.agents.get(session.agent)
        return (session, agent) if agent else None

    def set_cookie(resp: HTTPResponse, key: str, value: str, max_age: int) -> None:
        resp.cookies[key] = value
        cookie = resp.cookies[key]
        cookie["httponly"] = True
        cookie["samesite"] = "Lax"
        cookie["path"] = "/"
        cookie["max-age"] = max_age
        if ctx.settings.secure_cookies:
            cookie["secure"] = True

    def error_page(
        request: Request,
        status: int,
        reason: str,
        agent: Agent | None = None,
        session: auth.Session | None = None,
    ) -> HTTPResponse:
        if request.path.endswith("/turns") or "application/json" in request.headers.get(
            "accept", ""
        ):
            return response.json({"error": reason}, status=status)
        return render(
            "error.html",
            status=status,
            reason=reason,
            status_code=status,
            agent=agent,
            csrf=session.csrf if session else "",
        )

    def login_redirect(request: Request) -> HTTPResponse:
        target = request.path if request.method == "GET" else "/tickets"
        return response.redirect("/login?" + urlencode({"next": target}))

    def guarded(post: bool = False) -> Callable[..., Any]:
        """Login required; for POSTs also a matching CSRF token."""

        def wrap(handler: Callable[..., Any]) -> Callable[..., Any]:
            async def inner(request: Request, **kwargs: Any) -> HTTPResponse:
                found = await session_of(request)
                if found is None:
                    if request.path.endswith("/turns"):
                        return response.json({"error": "log in first"}, status=401)
                    return login_redirect(request)
                session, agent = found
                if post and not auth.csrf_ok(
                    session.csrf, (request.form or {}).get("csrf")
                ):
                    return error_page(
                        request,
                        403,
                        "the form's security token is missing or stale; reload "
                        "the page and send it again",
                        agent,
                        session,
                    )
                try:
                    result: HTTPResponse = await handler(
                        request, session, agent, **kwargs
                    )
                    return result
                except InboxError as exc:
                    return error_page(request, exc.status, exc.reason, agent, session)
                except SupportBotError as exc:
                    logger.warning("inbox: %s", exc)
                    return error_page(request, 503, str(exc), agent, session)

            inner.__name__ = handler.__name__
            return inner

        return wrap

    # ------------------------------------------------------------------ public

    @app.get("/health")
    async def health(_: Request) -> HTTPResponse:
        return response.json({"status": "ok", "agents": len(ctx.settings.agents)})

    @app.get("/")
    async def root(_: Request) -> HTTPResponse:
        return response.redirect("/tickets")

    def login_form(
        next_url: str, error: str = "", name: str = "", status: int = 200
    ) -> HTTPResponse:
        token = secrets.token_urlsafe(24)
        resp = render(
            "login.html",
            status=status,
            csrf=token,
            next_url=next_url,
            error=error,
            name=name,
            agent=None,
            no_agents=not ctx.settings.agents,
        )
        set_cookie(resp, LOGIN_CSRF_COOKIE, token, 3600)
        return resp

    def safe_next(value: str | None) -> str:
        # Only local paths: "//evil.example" or "https://…" would be an open redirect.
        if (
            value
            and value.startswith("/")
            and not value.startswith("//")
            and "\\" not in value
        ):
            return value
        return "/tickets"

    @app.get("/login")
    async def login_page(request: Request) -> HTTPResponse:
        return login_form(safe_next(request.args.get("next")))

    @app.post("/login")
    async def login(request: Request) -> HTTPResponse:
        form = request.form or {}
        next_url = safe_next(form.get("next"))
        if not auth.csrf_ok(request.cookies.get(LOGIN_CSRF_COOKIE), form.get("csrf")):
            return login_form(
                next_url, "The form expired; please log in again.", status=403
            )
        name = (form.get("name") or "").strip().lower()[:64]
        password = form.get("password") or ""
        address = request.ip or "unknown"
        # Before scrypt: a locked account or address costs no 16 MiB / 50 ms check.
        locked = ctx.throttle.begin(name, address, now())
        if locked is not None:
            wait = max(1, int((locked - now()).total_seconds() + 0.999))
            logger.warning("inbox: login locked for %r from %s (%d s)", name, address, wait)
            resp = login_form(
                next_url,
                f"Too many failed logins; try again in {wait} s.",
                name=name,
                status=429,
            )
            resp.headers["Retry-After"] = str(wait)
            return resp
        agent = ctx.settings.agents.get(name)
        loop = asyncio.get_running_loop()
        stored = agent.password_hash if agent else auth.DUMMY_HASH
        ok = await loop.run_in_executor(None, auth.verify_password, password, stored)
        if agent is None or not ok:
            logger.info("inbox: failed login for %r from %s", name, address)
            return login_form(
                next_url, "Wrong name or password.", name=name, status=401
            )
        ctx.throttle.succeeded(name, address)
        token, _ = await ctx.inbox.blocking(
            ctx.sessions.create,
            agent.name,
            auth.credential_stamp(agent.password_hash),
            now(),
            ctx.settings.session_lifetime,
        )
        resp = response.redirect(next_url, status=303)
        set_cookie(
            resp,
            SESSION_COOKIE,
            token,
            int(ctx.settings.session_lifetime.total_seconds()),
        )
        del resp.cookies[LOGIN_CSRF_COOKIE]
        logger.info("inbox: %s logged in", agent.name)
        return resp

    @app.post("/logout")
    @guarded(post=True)
    async def logout(
        request: Request, session: auth.Session, agent: Agent
    ) -> HTTPResponse:
        # Server-side: a copy of the cookie kept anywhere stops working now too.
        await ctx.inbox.blocking(ctx.sessions.end, request.cookies[SESSION_COOKIE])
        resp = response.redirect("/login", status=303)
        del resp.cookies[SESSION_COOKIE]
        logger.info("inbox: %s logged out", agent.name)
        return resp

    # ------------------------------------------------------------------ tickets

    @app.get("/tickets")
    @guarded()
    async def ticket_list(
        request: Request, session: auth.Session, agent: Agent
    ) -> HTTPResponse:
        args = request.args
        filters: dict[str, Any] = {}
        status = args.get("status") or None
        if status is not None and status not in STATUSES:
            raise InboxError(400, f"status must be one of {', '.join(STATUSES)}")
        priority = args.get("priority") or None
        if priority is not None and priority not in PRIORITIES:
            raise InboxError(400, f"priority must be one of {', '.join(PRIORITIES)}")
        after_hours = args.get("after_hours") or None
        if after_hours not in (None, "yes", "no"):
            raise InboxError(400, "after_hours must be yes or no")
        queue = args.get("queue") or None
        if queue is not None and not agent.can_read(queue):
            raise InboxError(403, f"you are not in the queue {queue}")
        language = args.get("language") or None
        mine = args.get("mine") == "1"
        if status:
            filters["status"] = status
        if queue:
            filters["queue"] = queue
        if language:
            filters["language"] = language
        if priority:
            filters["priority"] = priority
        if after_hours:
            filters["after_hours"] = after_hours == "yes"
        if mine:
            filters["assignee"] = agent.name
        found = await ctx.inbox.blocking(
            ctx.inbox.store.list, limit=LIST_FETCH, transcripts=False, **filters
        )
        tickets = [t for t in found if agent.can_read(t.queue)][:LIST_SHOWN]
        return render(
            "list.html",
            agent=agent,
            csrf=session.csrf,
            tickets=tickets,
            statuses=STATUSES,
            priorities=PRIORITIES,
            queues=sorted(
                {q for q in agent.queues if not _pattern(q)}
                | {t.queue for t in tickets}
            ),
            languages=sorted({*agent.languages, *(t.language for t in tickets)}),
            current={
                "status": status or "",
                "queue": queue or "",
                "language": language or "",
                "priority": priority or "",
                "after_hours": after_hours or "",
                "mine": mine,
            },
        )

    def turn_view(turn: Turn, agent: Agent) -> dict[str, Any]:
        """A turn as the agent sees it: original, and a translation they can read."""
        translation = None
        if turn.speaker != "agent" and not agent.speaks(turn.language):
            translation = ctx.translate(turn.text, turn.language, agent.language)
            if (
                translation is None
                and turn.translation
                and turn.translation.strip() != turn.text.strip()
            ):
                translation = turn.translation  # the pivot translation NLU made
        elif turn.speaker == "agent" and turn.translation:
            translation = turn.translation  # what the customer received
        return {
            "speaker": turn.speaker,
            "at": local(turn.at, "%d.%m. %H:%M:%S"),
            "text": turn.text,
            "language": turn.language or "",
            "translation": translation or "",
            "intent": turn.intent or "",
            "confidence": f"{turn.confidence:.2f}"
            if turn.confidence is not None
            else "",
            "kb_articles": list(turn.kb_articles),
        }

    def ticket_number(raw: str) -> int:
        try:
            return parse_ref(raw)
        except ValueError as exc:
            raise InboxError(404, str(exc)) from None

    @app.get("/tickets/<ref>")
    @guarded()
    async def ticket_page(
        request: Request, session: auth.Session, agent: Agent, ref: str
    ) -> HTTPResponse:
        number = ticket_number(ref)
        ticket = await ctx.inbox.ticket_for(agent, number)
        with_sync = await _try_sync(ctx, number)
        if with_sync:
            ticket = await ctx.inbox.ticket_for(agent, number)
        events = await ctx.inbox.blocking(ctx.inbox.store.events, number)
        notes = [e for e in events if e.kind == "note"]
        return render(
            "ticket.html",
            agent=agent,
            csrf=session.csrf,
            ticket=ticket,
            turns=[turn_view(t, agent) for t in ticket.transcript],
            notes=notes,
            history=events,
            needs_translation=not agent.speaks(ticket.language),
            reply_text="",
            message=await ctx.inbox.blocking(
                ctx.sessions.pop_flash, request.cookies[SESSION_COOKIE]
            ),
        )

    @app.get("/tickets/<ref>/turns")
    @guarded()
    async def ticket_turns(
        request: Request, session: auth.Session, agent: Agent, ref: str
    ) -> HTTPResponse:
        number = ticket_number(ref)
        try:
            after = int(request.args.get("after", "0"))
        except ValueError:
            raise InboxError(400, "after must be a whole number") from None
        await ctx.inbox.ticket_for(agent, number)
        await _try_sync(ctx, number)
        ticket = await ctx.inbox.ticket_for(agent, number)
        turns = ticket.transcript[max(after, 0) :]
        return response.json(
            {
                "count": len(ticket.transcript),
                "status": ticket.status,
                "assignee": ticket.assignee,
                "csat": ticket.csat,
                "turns": [turn_view(t, agent) for t in turns],
            },
            headers={"Cache-Control": "no-store"},
        )

    async def back(request: Request, ref: str, msg: str) -> HTTPResponse:
        """Back to the ticket page, which shows ``msg`` once (a flash, not a URL)."""
        await ctx.inbox.blocking(
            ctx.sessions.set_flash, request.cookies[SESSION_COOKIE], msg
        )
        return response.redirect(f"/tickets/{ref}", status=303)

    @app.post("/tickets/<ref>/assign")
    @guarded(post=True)
    async def assign(
        request: Request, session: auth.Session, agent: Agent, ref: str
    ) -> HTTPResponse:
        ticket = await ctx.inbox.take(agent, ticket_number(ref))
        return await back(
            request, ticket.ref, "Assigned to you; the bot is paused in this conversation."
        )

    @app.post("/tickets/<ref>/note")
    @guarded(post=True)
    async def note(
        request: Request, session: auth.Session, agent: Agent, ref: str
    ) -> HTTPResponse:
        number = ticket_number(ref)
        await ctx.inbox.note(agent, number, (request.form or {}).get("text") or "")
        return await back(request, ref, "Note added.")

    @app.post("/tickets/<ref>/reply")
    @guarded(post=True)
    async def reply(
        request: Request, session: auth.Session, agent: Agent, ref: str
    ) -> HTTPResponse:
        number = ticket_number(ref)
        text = (request.form or {}).get("text") or ""
        try:
            result = await ctx.inbox.reply(agent, number, text)
        except SupportBotError as exc:
            # Nothing is lost: the page comes back with the text still in the form.
            status = exc.status if isinstance(exc, InboxError) else 503
            reason = exc.reason if isinstance(exc, InboxError) else str(exc)
            ticket = await ctx.inbox.ticket_for(agent, number)
            events = await ctx.inbox.blocking(ctx.inbox.store.events, number)
            return render(
                "ticket.html",
                status=status,
                agent=agent,
                csrf=session.csrf,
                ticket=ticket,
                turns=[turn_view(t, agent) for t in ticket.transcript],
                notes=[e for e in events if e.kind == "note"],
                history=events,
                needs_translation=not agent.speaks(ticket.language),
                reply_text=text,
                message="",
                error=f"Not sent: {reason}",
            )
        msg = (
            "Sent."
            if not result.translated
            else (f"Sent, translated into {result.ticket.language}.")
        )
        return await back(request, result.ticket.ref, msg)

    @app.post("/tickets/<ref>/resolve")
    @guarded(post=True)
    async def resolve(
        request: Request, session: auth.Session, agent: Agent, ref: str
    ) -> HTTPResponse:
        ticket = await ctx.inbox.resolve(agent, ticket_number(ref))
        return await back(
            request,
            ticket.ref,
            "Resolved; the bot has the conversation again and asked "
            "the customer for a rating.",
        )

    @app.get("/metrics")
    @guarded()
    async def metrics(
        request: Request, session: auth.Session, agent: Agent
    ) -> HTTPResponse:
        tickets = await ctx.inbox.blocking(
            ctx.inbox.store.list, limit=None, transcripts=False
        )
        mine = [t for t in tickets if agent.can_read(t.queue)]
        table = ctx.metrics(mine) if ctx.metrics else None
        return render(
            "metrics.html",
            agent=agent,
            csrf=session.csrf,
            metrics=table,
            count=len(mine),
        )

    # ------------------------------------------------------------------ background

    if ctx.background_sync:

        async def poll() -> None:
            while True:
                await asyncio.sleep(ctx.settings.poll_seconds)
                try:
                    await ctx.inbox.sync_open()
                except Exception:  # keep polling; the log says what went wrong
                    logger.exception("inbox: syncing open conversations failed")

        @app.after_server_start
        async def start_poll(app_: Sanic, _: Any) -> None:
            app_.add_task(poll(), name="inbox_sync")

    return app


def _duration(seconds: float | None) -> str:
    """The report's durations, with an en dash for "no value" in the HTML pages."""
    return format_duration(seconds, missing="–")


def _pattern(queue: str) -> bool:
    return any(ch in queue for ch in "*?[")


async def _try_sync(ctx: InboxApp, number: int) -> bool:
    """Pull new turns from Rasa; a Rasa outage shows the stored ticket, not an error."""
    try:
        return bool(await ctx.inbox.sync(number))
    except SupportBotError as exc:
        logger.warning("inbox: could not read the conversation of %d: %s", number, exc)
        return False

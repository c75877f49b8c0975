"""``supportbot inbox …``: the agent inbox.

``inbox serve [--host H] [--port P] [--rasa-url URL]``  run the web app (``make run``
    starts it through bot.run; the Rasa token comes from $SUPPORTBOT_RASA_TOKEN)
``inbox revoke-sessions NAME``  log an agent out everywhere at once (a lost laptop, a
    leaving colleague): deletes their sessions from the ticket database.
``inbox hash-password``  read a password (prompt, or one line on stdin) and print the
    scrypt hash to put under ``inbox.agents[].password_hash``. The password is never an
    argument, so it does not end up in the shell history or the process list.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import logging
import os
import sys
from pathlib import Path
from typing import Any

from bot import clock
from bot.inbox.auth import hash_password
from bot.inbox.config import InboxSettings
from bot.inbox.rasa_api import TOKEN_ENV, URL_ENV, RasaClient
from bot.settings import PROJECT_ROOT, Settings, load_settings

MIN_PASSWORD_CHARS = 10


def add_parser(subparsers: Any) -> None:
    """Register the ``inbox`` command group on the top-level sub-parsers."""
    inbox = subparsers.add_parser(
        "inbox",
        help="the agent inbox web app",
        description="Run the agent inbox or make password hashes for its agents.",
    )
    inbox.set_defaults(help_parser=inbox)
    commands = inbox.add_subparsers(title="inbox commands", metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the inbox web app")
    serve.add_argument(
        "--host", default="127.0.0.1", help="interface (default 127.0.0.1)"
    )
    serve.add_argument("--port", type=int, help="port (default: inbox.port, else 5080)")
    serve.add_argument(
        "--rasa-url",
        default=os.environ.get(URL_ENV, "http://127.0.0.1:5005"),
        help=f"Rasa's HTTP API (default ${URL_ENV} or http://127.0.0.1:5005)",
    )
    serve.add_argument(
        "--endpoints",
        type=Path,
        default=PROJECT_ROOT / "endpoints.yml",
        help="Rasa's endpoints.yml: its SQL tracker_store is read for new messages "
        "(default: the project's endpoints.yml)",
    )
    serve.set_defaults(func=cmd_serve)

    revoke = commands.add_parser(
        "revoke-sessions", help="log an agent out of every browser now"
    )
    revoke.add_argument("name", help="the agent's login name")
    revoke.set_defaults(func=cmd_revoke_sessions)

    hp = commands.add_parser("hash-password", help="print the hash of a password")
    hp.set_defaults(func=cmd_hash_password)


def read_password(stdin: Any = None) -> str:
    """Prompt twice on a terminal; otherwise read one line from stdin."""
    stdin = stdin or sys.stdin
    if stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            raise SystemExit("supportbot: error: the two passwords differ")
        return first
    return stdin.readline().rstrip("\r\n")


def cmd_hash_password(args: argparse.Namespace) -> int:
    password = read_password()
    if len(password) < MIN_PASSWORD_CHARS:
        print(
            f"supportbot: error: use at least {MIN_PASSWORD_CHARS} characters",
            file=sys.stderr,
        )
        return 2
    print(hash_password(password))
    return 0


def cmd_revoke_sessions(args: argparse.Namespace) -> int:
    from bot.inbox.sessions import SessionStore
    from bot.tickets.store import open_configured_store

    store = open_configured_store(load_settings(args.config))
    try:
        sessions = SessionStore.beside(store)
        try:
            ended = sessions.end_all(args.name)
        finally:
            sessions.close()
    finally:
        store.close()
    print(f"{args.name}: {ended} session(s) ended")
    return 0


def build_from_settings(
    settings: Settings,
    rasa_url: str,
    rasa_token: str,
    *,
    background_sync: bool = True,
    endpoints: Path | None = None,
) -> tuple[Any, InboxSettings]:
    """The inbox Sanic app for a settings file (used by ``serve`` and the tests)."""
    from bot.hours import parse_timezone
    from bot.inbox.app import InboxApp, build_app
    from bot.inbox.service import Inbox
    from bot.inbox.sessions import SessionStore
    from bot.inbox.tracker_events import TrackerEvents
    from bot.inbox.translation import load_translator
    from bot.tickets.outbox import OutboxConfig, start_in_thread
    from bot.tickets.store import open_configured_store

    inbox_settings = InboxSettings.from_settings(settings)
    hours = settings.section("business_hours", required=False)
    zone = parse_timezone(hours) if "timezone" in hours.data else None
    # Agents' changes queue helpdesk documents in the same transaction (outbox:).
    store = open_configured_store(settings)
    private_database(store)
    sessions = SessionStore.beside(store)
    rasa = RasaClient(rasa_url, rasa_token)
    tracker_events = TrackerEvents.from_endpoints(endpoints) if endpoints else None
    logging.getLogger(__name__).info(
        "inbox: new customer messages are read from %s",
        tracker_events.where if tracker_events else "Rasa's HTTP API (whole trackers)",
    )
    translator = load_translator(settings)
    ctx = InboxApp(
        settings=inbox_settings,
        inbox=Inbox(
            store,
            rasa,
            clock=clock.now,
            translator=translator,
            tracker_events=tracker_events,
        ),
        sessions=sessions,
        clock=clock.now,
        translator=translator,
        metrics=metrics_function(),
        background_sync=background_sync,
    )
    if zone is not None:
        ctx.timezone = zone
    app = build_app(ctx)

    # The inbox process also delivers the outbox, on its own connection, so a slow
    # helpdesk never holds up an agent's page.
    outbox = OutboxConfig.from_settings(settings)
    stop_outbox = None
    if outbox is not None and background_sync:
        outbox_store = open_configured_store(settings)
        _, stop_outbox = start_in_thread(outbox_store, outbox)

    @app.after_server_stop
    async def close(*_: Any) -> None:
        if stop_outbox is not None:
            stop_outbox.set()
        await rasa.aclose()
        sessions.close()
        if tracker_events is not None:
            tracker_events.close()
        store.close()

    return app, inbox_settings


def private_database(store: Any) -> None:
    """The ticket database's files (SQLite: the file, its WAL and SHM): owner only.

    They hold customers' messages and the agents' sessions; 0644 let every local user
    read them.
    """
    path = getattr(store, "path", None)
    if path is None or str(path) == ":memory:":
        return
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.chmod(f"{path}{suffix}", 0o600)


def metrics_function() -> Any:
    """bot.tickets.metrics.compute_report (the same numbers as ``bot report``)."""
    from bot.tickets.metrics import compute_report

    return compute_report


def cmd_serve(args: argparse.Namespace) -> int:
    # Everything this process creates (databases, their WAL files) is owner-only.
    os.umask(0o077)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # httpx logs every request URL at INFO: one line per Rasa call, every poll, all day.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings = load_settings(args.config)
    app, inbox_settings = build_from_settings(
        settings, args.rasa_url, os.environ.get(TOKEN_ENV, ""), endpoints=args.endpoints
    )
    if not inbox_settings.agents:
        logging.getLogger(__name__).warning(
            "inbox: no agents configured in %s (inbox.agents); nobody can log in",
            settings.file,
        )
    port = args.port or inbox_settings.port
    app.run(
        host=args.host, port=port, single_process=True, access_log=False, motd=False
    )
    return 0

"""``supportbot outbox …``: run the helpdesk delivery worker and look at its queue.

``outbox run [--once]``   deliver until stopped (SIGTERM/Ctrl-C), or one pass
``outbox status [--json]`` pending / delivered / dead counts and the latest errors
``outbox retry``          give parked ("dead") documents a fresh set of attempts
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from typing import Any

from bot.errors import ConfigError
from bot.settings import load_settings
from bot.tickets.outbox import OutboxConfig, OutboxWorker
from bot.tickets.store import open_configured_store


def add_parser(subparsers: Any) -> None:
    """Register the ``outbox`` command group."""
    outbox = subparsers.add_parser(
        "outbox", help="deliver ticket changes to the external helpdesk",
        description="The helpdesk outbox (outbox: in supportbot.yml).",
    )
    outbox.set_defaults(help_parser=outbox)
    commands = outbox.add_subparsers(title="outbox commands", metavar="COMMAND")
    run = commands.add_parser("run", help="deliver queued documents until stopped")
    run.add_argument("--once", action="store_true",
                     help="deliver what is due now, then exit")
    run.set_defaults(func=cmd_run)
    status = commands.add_parser("status", help="queue counts and the latest errors")
    status.add_argument("--json", action="store_true", help="as JSON")
    status.set_defaults(func=cmd_status)
    retry = commands.add_parser("retry", help="requeue documents that were given up")
    retry.set_defaults(func=cmd_retry)


def _config(args: argparse.Namespace) -> tuple[Any, OutboxConfig]:
    settings = load_settings(args.config)
    config = OutboxConfig.from_settings(settings)
    if config is None:
        raise ConfigError(
            str(settings.file), "outbox.url", "is not set, so nothing is delivered",
            "set 'url:' (and 'secret:') under 'outbox:'",
        )
    return settings, config


def cmd_run(args: argparse.Namespace) -> int:
    settings, config = _config(args)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    store = open_configured_store(settings)
    worker = OutboxWorker(store, config)
    try:
        if args.once:
            report = worker.run_once()
            print(f"delivered {report.delivered}, failed {report.failed}, "
                  f"gave up {report.dead}")
            return 0 if not report.failed and not report.dead else 1
        stop = threading.Event()

        def _stop(signum: int, frame: object) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        logging.getLogger(__name__).info(
            "outbox: delivering to %s (Ctrl-C stops)", config.url
        )
        worker.run(stop)
        return 0
    finally:
        worker.close()
        store.close()


def cmd_status(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    store = open_configured_store(settings)
    try:
        counts = store.outbox_counts()
        problems = [
            i for i in store.outbox_items("pending") + store.outbox_items("dead")
            if i.last_error
        ][-10:]
    finally:
        store.close()
    if args.json:
        print(json.dumps({**counts, "errors": [
            {"idempotency_key": i.idempotency_key, "state": i.state,
             "attempts": i.attempts, "error": i.last_error} for i in problems
        ]}))
        return 0
    print(f"pending {counts['pending']}, delivered {counts['delivered']}, "
          f"dead {counts['dead']}")
    for item in problems:
        print(f"  {item.idempotency_key}  {item.state}  {item.attempts} attempt(s): "
              f"{item.last_error}", file=sys.stdout)
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    store = open_configured_store(load_settings(args.config))
    try:
        count = store.outbox_requeue_dead()
    finally:
        store.close()
    print(f"requeued {count} document(s)")
    return 0

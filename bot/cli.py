"""``supportbot`` / ``python -m bot``: editor and operator commands.

Each command group lives with its feature and exposes ``add_parser(subparsers)``, which
adds its sub-parser and sets ``func`` (``(args) -> int``, the exit status) on every
leaf command. A command that parses its own options sets ``passes_on_arguments=True``
and gets the rest of the command line as ``args.extra_args``. To add a group, write
that function in your module and append it to ``COMMAND_GROUPS`` below; read settings
in the handler with ``bot.settings.load_settings(args.config)``.

Errors the operator can fix (``SupportBotError``: bad settings, unreachable database …)
print one line to stderr and exit with status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from bot import __version__, models_cli
from bot.editor import cli as editor_cli
from bot.errors import SupportBotError
from bot.inbox import cli as inbox_cli
from bot.settings import CONFIG_ENV
from bot.tickets import cli as tickets_cli
from bot.tickets import outbox_cli, report_cli


def _add_run_parser(subparsers: Any) -> None:
    """``run``: bot.run's supervisor (``make run``); it parses its own options."""
    run = subparsers.add_parser(
        "run", add_help=False, help="start the action server, Rasa server and web chat"
    )
    run.set_defaults(func=_run, passes_on_arguments=True)


def _run(args: argparse.Namespace) -> int:
    from bot import run  # imported on use: the other commands do not need it

    return run.main(list(args.extra_args))


#: One ``add_parser(subparsers)`` per command group, in the order ``--help`` lists them.
COMMAND_GROUPS: list[Callable[[Any], None]] = [
    _add_run_parser,
    tickets_cli.add_parser,
    outbox_cli.add_parser,
    report_cli.add_parser,
    editor_cli.add_parser,
    inbox_cli.add_parser,
    models_cli.add_parser,
]

EXIT_OK = 0
EXIT_FAILURE = 1  # the command ran and the answer is "no" (e.g. ticket not found)
EXIT_USAGE = 2  # bad arguments, settings or environment: fix and run again


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="supportbot",
        description="Polyglot Support Bot: editor and operator commands.",
    )
    parser.add_argument(
        "--config",
        metavar="PATH",
        help=f"settings file (default: ${CONFIG_ENV} or supportbot.yml in the project)",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for add_parser in COMMAND_GROUPS:
        add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status (0 ok, 1 failure, 2 usage/config)."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "passes_on_arguments", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra_args = extra  # for commands that parse their own options (run)
    func = getattr(args, "func", None)
    if func is None:
        # A group without its sub-command prints that group's help.
        (getattr(args, "help_parser", None) or parser).print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(func(args))
    except SupportBotError as exc:
        print(f"supportbot: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `supportbot tickets list | head`: not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes
        return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())

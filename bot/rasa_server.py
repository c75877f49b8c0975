"""``python -m bot.rasa_server RASA-RUN-OPTIONS``: ``rasa run`` with its secrets off argv.

Run in the Rasa environment (bot.run starts it). ``rasa run --auth-token T`` puts the token
of Rasa's HTTP API into /proc/<pid>/cmdline, which every local user can read. This
launcher reads the token from $SUPPORTBOT_RASA_TOKEN (the process environment is readable
by the same user only) and calls Rasa's command line in-process, so the token is never on
a command line. The same secret switches on Rasa's JWT authentication (HS256): clients
send ``Authorization: Bearer <jwt>`` with the payload ``{"user": {"username": ...,
"role": "admin"}}`` (see :func:`admin_jwt`) instead of ``?token=`` in URLs, which end up in
access logs. ``?token=`` keeps working for existing scripts.

It also applies ``action_endpoint: timeout:`` from the endpoints file: Rasa 3.6 accepts the
key but calls the action server with a fixed 300 s timeout, so one hung action server
would hold every conversation for five minutes.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

TOKEN_ENV = "SUPPORTBOT_RASA_TOKEN"
JWT_METHOD = "HS256"
#: How long a bearer token from :func:`admin_jwt` is valid, in seconds.
JWT_LIFETIME_SECONDS = 300
#: Options that carry secrets: refused on this command line (they belong in the environment).
SECRET_OPTIONS = ("--auth-token", "-t", "--jwt-secret", "--jwt-private-key")


class LaunchError(ValueError):
    """The launcher's command line or environment is unusable; the message says why."""


def rasa_argv(args: Sequence[str], token: str) -> list[str]:
    """The argv for Rasa's CLI: ``rasa run`` + ``args`` + the token and JWT options.

    Refuses secrets in ``args`` (a caller passing them there would defeat the launcher)
    and an empty token (Rasa would then serve its HTTP API without authentication).
    """
    for arg in args:
        name = arg.split("=", 1)[0]
        if name.startswith("-t") and not name.startswith("--"):
            name = "-t"  # "-tSECRET": argparse's short option with its value attached
        if name in SECRET_OPTIONS:
            raise LaunchError(f"{name} is not accepted on the command line: set ${TOKEN_ENV}")
    if not token:
        raise LaunchError(f"${TOKEN_ENV} is empty: the Rasa HTTP API needs a token")
    # "--name=value": a random token may start with "-", which argparse would take for
    # an option after a separate "--name".
    return ["rasa", "run", *args, f"--auth-token={token}",
            f"--jwt-secret={token}", f"--jwt-method={JWT_METHOD}"]


def option_value(args: Sequence[str], name: str) -> str | None:
    """The value of ``--name VALUE`` or ``--name=VALUE`` in ``args`` (the last one wins)."""
    value = None
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith(name + "="):
            value = arg.split("=", 1)[1]
    return value


def action_timeout(endpoint_kwargs: dict[str, Any]) -> float | None:
    """``timeout`` of the action endpoint in seconds, or None when the file sets none."""
    raw = endpoint_kwargs.get("timeout")
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise LaunchError(f"action_endpoint timeout must be a number of seconds, got {raw!r}")
    try:
        value = float(raw)
    except ValueError:
        raise LaunchError(
            f"action_endpoint timeout must be a number of seconds, got {raw!r}"
        ) from None
    if not 0 < value <= 3600:
        raise LaunchError(f"action_endpoint timeout must be in (0, 3600] seconds, got {raw!r}")
    return value


def apply_action_timeout(endpoints_file: str | None) -> float | None:
    """Make Rasa's custom-action calls use the endpoint file's timeout; returns it."""
    if not endpoints_file:
        return None
    from rasa.utils.endpoints import read_endpoint_config

    endpoint = read_endpoint_config(endpoints_file, "action_endpoint")
    if endpoint is None:
        return None
    timeout = action_timeout(dict(endpoint.kwargs))
    if timeout is not None:
        import rasa.core.actions.action as action_module

        # RemoteAction.run reads this module global on every call (rasa 3.6.21).
        action_module.DEFAULT_REQUEST_TIMEOUT = timeout
    return timeout


def admin_jwt(
    secret: str, username: str = "supportbot", *, now: float | None = None,
    lifetime: float = JWT_LIFETIME_SECONDS,
) -> str:
    """A bearer token with admin rights on Rasa's HTTP API, signed with ``secret``.

    The one builder for our own clients (inbox, reload, tests); needs PyJWT (in both
    environments). Short-lived: a token copied out of a debug dump stops working.
    """
    import time

    import jwt

    issued = int(time.time() if now is None else now)
    claims = {
        "user": {"username": username, "role": "admin"},
        "iat": issued,
        "exp": issued + int(lifetime),
    }
    return str(jwt.encode(claims, secret, algorithm=JWT_METHOD))


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        full = rasa_argv(args, os.environ.get(TOKEN_ENV, ""))
        timeout = apply_action_timeout(option_value(args, "--endpoints"))
    except LaunchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if timeout is not None:
        print(f"bot.rasa_server: custom actions time out after {timeout:g} s", flush=True)
    from rasa.__main__ import main as rasa_main

    # Only this process's sys.argv changes; /proc/<pid>/cmdline keeps the launcher's.
    sys.argv = full
    rasa_main()
    return 0


if __name__ == "__main__":
    sys.exit(main())

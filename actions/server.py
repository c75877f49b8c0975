"""The action server, refusing every call that does not carry the shared secret.

``python -m actions.server --port 5055`` is rasa_sdk's server (its app, its executor,
every action in this package) plus one rule: a request must carry
``Authorization: Bearer $SUPPORTBOT_ACTION_TOKEN``. Without it anyone who can reach the
port can POST a forged tracker and make the actions act on it (a rating for a ticket
that never asked for one, a ticket on another customer's channel). rasa_sdk 3.11 has no
authentication of its own, so the check is a Sanic request middleware in front of its
routes. Rasa sends the header from endpoints.yml (``action_endpoint: headers:``), never
as a URL parameter, so the secret stays out of access logs.

Only ``GET /health`` is open: supervisors probe it and it reveals nothing. There is no
"development mode" without a secret: the server refuses to start when the variable is
missing, empty or short, naming the variable and how to make one. ``python -m bot run``
generates a fresh secret per run and hands it to both servers.

The server listens on 127.0.0.1 unless ``--host`` (or ``$SANIC_HOST``) says otherwise,
and answers no cross-origin requests (rasa_sdk's default allows every origin).

Memory: the actions embed and translate in executor threads, and glibc gives every
thread its own malloc arena (up to 8 per core) which keeps the peak of the large
buffers torch frees (a 512-token embedding). Under concurrent long texts the resident
size climbed and stayed (measured 841 -> 1,174 MiB after 40 odd 4,000-character texts,
four at a time). Two arenas and a ``malloc_trim`` at most every 30 s after a call bring
that to 1,068 MiB, the model's own working set (docs/action-server.md).
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import ctypes.util
import hmac
import logging
import math
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

from sanic import Request, Sanic, response
from sanic.response import HTTPResponse

logger = logging.getLogger(__name__)

#: The environment variable holding the secret Rasa sends (endpoints.yml reads it too).
TOKEN_ENV = "SUPPORTBOT_ACTION_TOKEN"
#: Shorter secrets are refused: a guessable secret is no secret (32 bytes of
#: ``secrets.token_urlsafe`` give 43 characters).
MIN_TOKEN_CHARS = 16
#: Paths answered without the secret.
OPEN_PATHS = frozenset({"/health"})
DEFAULT_PORT = 5055
DEFAULT_HOST = "127.0.0.1"
HOW_TO_MAKE_ONE = (
    f'export {TOKEN_ENV}="$(python -c \'import secrets; print(secrets.token_urlsafe(32))\')"'
)


#: glibc's mallopt parameter M_ARENA_MAX, and the arenas the action server allows.
_M_ARENA_MAX = -8
MALLOC_ARENAS = 2
#: Seconds between two ``malloc_trim`` calls (one takes ~30 ms at 1 GiB resident).
TRIM_INTERVAL_S = 30.0


def _libc() -> Any | None:
    """glibc, or None elsewhere (musl, macOS): the memory measures are then skipped."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
    except OSError:
        return None
    has_all = all(hasattr(libc, f) for f in ("mallopt", "malloc_trim"))
    return libc if has_all else None


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Cap glibc's malloc arenas (call before any thread starts); whether it applied."""
    libc = _libc()
    return bool(libc is not None and libc.mallopt(_M_ARENA_MAX, arenas) == 1)


class MemoryTrimmer:
    """Gives freed heap memory back to the system, at most once per ``interval``."""

    def __init__(
        self, interval: float = TRIM_INTERVAL_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.interval = interval
        self._clock = clock
        self._libc = _libc()
        self._last = -math.inf
        self.trims = 0

    def due(self) -> bool:
        """True (and the interval restarts) when a trim may run now."""
        if self._libc is None:
            return False
        now = self._clock()
        if now - self._last < self.interval:
            return False
        self._last = now
        return True

    def trim(self) -> None:
        """``malloc_trim(0)``: blocking (~30 ms), so callers run it in an executor."""
        if self._libc is not None:
            self._libc.malloc_trim(0)
            self.trims += 1


def trim_after_calls(app: Sanic, trimmer: MemoryTrimmer) -> None:
    """After an action call, trim the heap in the background when one is due."""
    pending: set[asyncio.Future[None]] = set()

    @app.on_response
    async def _trim(request: Request, _: HTTPResponse) -> None:
        if request.path == "/webhook" and trimmer.due():
            future = asyncio.get_running_loop().run_in_executor(None, trimmer.trim)
            pending.add(future)
            future.add_done_callback(pending.discard)


class TokenError(ValueError):
    """The shared secret is missing or too weak; the message names the fix."""


def token_from_env(environ: Mapping[str, str] | None = None) -> str:
    """The shared secret from ``$SUPPORTBOT_ACTION_TOKEN``, or TokenError saying why not."""
    env = os.environ if environ is None else environ
    token = env.get(TOKEN_ENV, "")
    if not token.strip():
        raise TokenError(
            f"{TOKEN_ENV} is not set: the action server refuses to run without the "
            f"secret Rasa sends (endpoints.yml action_endpoint headers). Set it for "
            f"both servers, e.g. {HOW_TO_MAKE_ONE}; `python -m bot run` does this itself"
        )
    if len(token) < MIN_TOKEN_CHARS or token != token.strip():
        raise TokenError(
            f"{TOKEN_ENV} must be at least {MIN_TOKEN_CHARS} characters without "
            f"surrounding spaces (got {len(token)}); e.g. {HOW_TO_MAKE_ONE}"
        )
    return token


def bearer_matches(header: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header value carries ``token`` (constant time).

    Compared as UTF-8 bytes: ``hmac.compare_digest`` raises on non-ASCII ``str``, which
    would turn a forged header into a 500 instead of a 401.
    """
    if not header:
        return False
    scheme, _, given = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(
        given.strip().encode("utf-8", "replace"), token.encode("utf-8")
    )


def require_token(app: Sanic, token: str) -> None:
    """Answer 401 to every request but ``GET /health`` that lacks the secret."""

    @app.on_request
    async def _check(request: Request) -> HTTPResponse | None:
        if request.path in OPEN_PATHS and request.method in ("GET", "HEAD"):
            return None
        if bearer_matches(request.headers.get("authorization"), token):
            return None
        logger.warning(
            "refused %s %s from %s: no valid %s bearer token",
            request.method, request.path, request.ip, TOKEN_ENV,
        )
        return response.json(
            {"error": "unauthorised: this server only answers the Rasa server"},
            status=401,
            headers={"WWW-Authenticate": 'Bearer realm="supportbot-actions"'},
        )


def create_app(token: str, package: str = "actions") -> Sanic:
    """rasa_sdk's app for ``package`` with the token check and no CORS."""
    from rasa_sdk.endpoint import create_app as create_sdk_app
    from rasa_sdk.executor import ActionExecutor

    executor = ActionExecutor()
    executor.register_package(package)
    app = create_sdk_app(executor, cors_origins=None)
    require_token(app, token)
    trim_after_calls(app, MemoryTrimmer())
    return app


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m actions.server",
        description=(
            f"Run the action server; every call must carry 'Authorization: Bearer "
            f"${TOKEN_ENV}' (GET /health excepted)."
        ),
    )
    parser.add_argument("--port", type=int, default=int(os.environ.get("ACTION_PORT",
                                                                       DEFAULT_PORT)))
    parser.add_argument(
        "--host", default=os.environ.get("SANIC_HOST", DEFAULT_HOST),
        help="interface to listen on (default 127.0.0.1, or $SANIC_HOST)",
    )
    parser.add_argument("--actions", default="actions", help="package of the actions")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Check the secret, then serve until stopped; 2 when the secret is unusable."""
    args = _parser().parse_args(argv)
    try:
        token = token_from_env()
    except TokenError as exc:
        print(f"action server: {exc}", file=sys.stderr)
        return 2
    limit_malloc_arenas()  # before rasa_sdk, torch or the executor start threads
    from rasa_sdk.constants import DEFAULT_KEEP_ALIVE_TIMEOUT
    from sanic.worker.loader import AppLoader

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    app = AppLoader(factory=partial(create_app, token, args.actions)).load()
    app.config.KEEP_ALIVE_TIMEOUT = DEFAULT_KEEP_ALIVE_TIMEOUT
    logger.info("action server on http://%s:%d (bearer token required)", args.host,
                args.port)
    app.run(host=args.host, port=args.port, workers=1, legacy=True, access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())

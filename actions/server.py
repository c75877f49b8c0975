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
"""

from __future__ import annotations

import argparse
import hmac
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from functools import partial

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

"""Start the whole bot on 127.0.0.1: action and Rasa servers, agent inbox, web chat.

Two processes in two Python environments, as Rasa intends (Rasa 3.6 needs Python 3.10; the
ML stack needs 3.11), plus a tiny static server for the web chat page. The supervisor waits
until every part answers its health check, stops everything on Ctrl-C or SIGTERM, and
stops everything if one part dies, printing that part's last log lines. The end-to-end
tests start the bot through the same class, so what they test is what ``make run`` runs.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from bot.settings import PROJECT_ROOT

WEBCHAT_DIR = PROJECT_ROOT / "connectors" / "webchat_static"


@dataclass
class BotConfig:
    """Ports, files and environment of one running bot."""

    rasa_port: int = 5005
    action_port: int = 5055
    web_port: int = 8080
    #: The agent inbox (bot/inbox), a third process in the action environment; 0 picks a
    #: free port at start (tests); ``make run`` uses 5080 (--inbox-port, $INBOX_PORT).
    inbox_port: int = 0
    host: str = "127.0.0.1"
    model_dir: Path = PROJECT_ROOT / "models" / "rasa"
    tracker_db: Path = PROJECT_ROOT / "var" / "tracker.sqlite3"
    log_dir: Path = PROJECT_ROOT / "var" / "log"
    settings_file: Path | None = None
    #: Rasa's channel and endpoint files; tests point channels at stand-in servers with their own.
    credentials_file: Path = PROJECT_ROOT / "credentials.yml"
    endpoints_file: Path = PROJECT_ROOT / "endpoints.yml"
    extra_env: Mapping[str, str] = field(default_factory=dict)
    rasa_python: Path = PROJECT_ROOT / ".venv-rasa" / "bin" / "python"
    action_python: Path = PROJECT_ROOT / ".venv" / "bin" / "python"
    serve_web: bool = True
    serve_inbox: bool = True
    #: Long polling for Telegram during development (no public webhook URL needed):
    #: runs ``python -m connectors.telegram poll`` beside the Rasa server.
    telegram_polling: bool = False
    #: Token for Rasa's HTTP API (``--enable-api``): the inbox uses it to pause, resume and
    #: reply to conversations, the editors' reload to swap models. From
    #: $SUPPORTBOT_RASA_TOKEN, else a fresh random one per run; never a fixed default.
    rasa_token: str = field(
        default_factory=lambda: os.environ.get("SUPPORTBOT_RASA_TOKEN") or secrets.token_urlsafe(24)
    )
    #: Secret the Rasa server sends the action server (endpoints.yml), which refuses calls
    #: without it (actions/server.py). $SUPPORTBOT_ACTION_TOKEN, else fresh per run.
    action_token: str = field(
        default_factory=lambda: os.environ.get("SUPPORTBOT_ACTION_TOKEN")
        or secrets.token_urlsafe(32)
    )

    @classmethod
    def isolated(cls, folder: Path, settings_file: Path, **overrides: Any) -> BotConfig:
        """A bot beside any other (tests, benchmarks): free ports, its state in ``folder``."""
        fields_: dict[str, Any] = {
            "rasa_port": free_port(),
            "action_port": free_port(),
            "web_port": free_port(),
            "tracker_db": folder / "tracker.sqlite3",
            "log_dir": folder / "log",
            "settings_file": settings_file,
        }
        return cls(**{**fields_, **overrides})

    @property
    def rasa_url(self) -> str:
        return f"http://{self.host}:{self.rasa_port}"

    @property
    def action_url(self) -> str:
        return f"http://{self.host}:{self.action_port}"

    @property
    def inbox_url(self) -> str:
        return f"http://{self.host}:{self.inbox_port}"

    @property
    def web_url(self) -> str:
        return f"http://{self.host}:{self.web_port}/"


class StartupError(RuntimeError):
    """A part of the bot did not come up; the message carries its log tail."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, timeout: float = 2.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError):
        return 0


def _credential_vars(path: Path) -> list[str]:
    """Names of the ``${VAR}`` environment variables a credentials file uses."""
    try:
        return re.findall(r"\$\{(\w+)\}", path.read_text(encoding="utf-8"))
    except OSError:
        return []


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class _WebChatHandler(http.server.SimpleHTTPRequestHandler):
    """Serves connectors/webchat_static and a config.json telling the page where Rasa is."""

    rasa_url = ""

    def do_GET(self) -> None:
        if self.path.split("?")[0] == "/config.json":
            body = json.dumps({"rasa_url": self.rasa_url}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def end_headers(self) -> None:
        # Revalidate on each load so an updated widget is never run from a stale cache;
        # the CSP lets the page talk only to Rasa (it renders text with textContent, and
        # this keeps an injected script from calling anywhere else).
        self.send_header("Cache-Control", "no-cache")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header(
            "Content-Security-Policy",
            f"default-src 'self'; connect-src 'self' {self.rasa_url}; "
            "object-src 'none'; base-uri 'none'; form-action 'none'",
        )
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:  # quiet access log
        return


class Bot:
    """The running bot; use as a context manager or call start()/stop()."""

    def __init__(self, config: BotConfig) -> None:
        self.config = config
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: dict[str, Path] = {}
        self._web: http.server.ThreadingHTTPServer | None = None

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "ACTION_PORT": str(self.config.action_port),
                "TRACKER_DB": str(self.config.tracker_db),
                "RASA_TELEMETRY_ENABLED": "false",
                "SANIC_HOST": self.config.host,  # rasa_sdk has no --host flag
                "PYTHONPATH": str(PROJECT_ROOT),
                "TF_CPP_MIN_LOG_LEVEL": "2",
                "HF_HUB_OFFLINE": env.get("HF_HUB_OFFLINE", "1"),
                "TRANSFORMERS_OFFLINE": env.get("TRANSFORMERS_OFFLINE", "1"),
                "SUPPORTBOT_WARM_UP": "1",
                # Where our own processes reach Rasa's HTTP API (inbox, actions, reload).
                "SUPPORTBOT_RASA_URL": self.config.rasa_url,
                "SUPPORTBOT_RASA_TOKEN": self.config.rasa_token,
                "SUPPORTBOT_ACTION_TOKEN": self.config.action_token,
            }
        )
        if self.config.settings_file:
            env["SUPPORTBOT_CONFIG"] = str(self.config.settings_file)
        env.update(self.config.extra_env)
        # Channel secrets in credentials.yml are ${VAR}s and Rasa refuses to start when one
        # is unset; unset ones become "" and that channel disables itself (README Channels).
        for name in _credential_vars(self.config.credentials_file):
            env.setdefault(name, "")
        return env

    def _action_cmd(self) -> list[str]:
        return [str(self.config.action_python), "-m", "actions.server",
                "--port", str(self.config.action_port)]

    def _spawn(self, name: str, cmd: list[str]) -> None:
        self.config.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.config.log_dir / f"{name}.log"
        self._logs[name] = log
        with open(log, "wb") as out:
            self._procs[name] = subprocess.Popen(
                cmd,
                cwd=PROJECT_ROOT,
                env=self._env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches the supervisor, which stops them
            )

    def _wait_healthy(self, name: str, url: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self._procs[name]
            if proc.poll() is not None:
                raise StartupError(
                    f"{name} exited with code {proc.returncode} during start-up:\n"
                    + _tail(self._logs[name])
                )
            if _get(url) == 200:
                return
            time.sleep(0.5)
        raise StartupError(
            f"{name} did not answer {url} within {timeout:.0f} s:\n" + _tail(self._logs[name])
        )

    def start(self, timeout: float = 240.0) -> Bot:
        cfg = self.config
        cfg.tracker_db.parent.mkdir(parents=True, exist_ok=True)
        models = sorted(cfg.model_dir.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
        if not models:
            raise StartupError(f"no trained Rasa model in {cfg.model_dir}; run `make train`")
        try:
            self._spawn("actions", self._action_cmd())
            self._spawn(
                "rasa",
                [str(cfg.rasa_python), "-m", "rasa", "run",
                 "--model", str(models[-1]),
                 "--endpoints", str(cfg.endpoints_file),
                 "--credentials", str(cfg.credentials_file),
                 "--interface", cfg.host, "--port", str(cfg.rasa_port),
                 "--enable-api", "--auth-token", cfg.rasa_token,
                 "--cors", f"http://{cfg.host}:{cfg.web_port}"],
            )
            if cfg.serve_inbox:
                if cfg.inbox_port == 0:
                    cfg.inbox_port = free_port()
                self._spawn(
                    "inbox",
                    [str(cfg.action_python), "-m", "bot", "inbox", "serve",
                     "--host", cfg.host, "--port", str(cfg.inbox_port),
                     "--rasa-url", cfg.rasa_url],
                )
            self._wait_healthy("actions", f"{cfg.action_url}/health", timeout)
            self._wait_healthy("rasa", f"{cfg.rasa_url}/", timeout)
            if cfg.telegram_polling:
                self._spawn(
                    "telegram-poll",
                    [str(cfg.rasa_python), "-m", "connectors.telegram",
                     "--credentials", str(cfg.credentials_file), "poll",
                     "--rasa-url", cfg.rasa_url],
                )
            if cfg.serve_inbox:
                self._wait_healthy("inbox", f"{cfg.inbox_url}/health", timeout)
            if cfg.serve_web:
                self._start_web()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_web(self) -> None:
        handler = type("Handler", (_WebChatHandler,), {"rasa_url": self.config.rasa_url})
        self._web = http.server.ThreadingHTTPServer(
            (self.config.host, self.config.web_port),
            partial(handler, directory=str(WEBCHAT_DIR)),
        )
        threading.Thread(target=self._web.serve_forever, daemon=True).start()

    def restart_actions(self, extra_env: Mapping[str, str], timeout: float = 120.0) -> None:
        """Restart only the action server with changed environment (e.g. a pinned clock).

        The Rasa server keeps running: it reaches the action server by URL on each call.
        """
        proc = self._procs.pop("actions")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        self.config.extra_env = {**self.config.extra_env, **extra_env}
        self._spawn("actions", self._action_cmd())
        self._wait_healthy("actions", f"{self.config.action_url}/health", timeout)

    def pids(self) -> dict[str, int]:
        """Process ids of the running parts (benchmarks read their memory from /proc)."""
        return {name: proc.pid for name, proc in self._procs.items()}

    def dead(self) -> str | None:
        """Name of a part that has exited, if any."""
        for name, proc in self._procs.items():
            if proc.poll() is not None:
                return name
        return None

    def log_tail(self, name: str, lines: int = 40) -> str:
        return _tail(self._logs[name], lines)

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM every part, wait, then SIGKILL what is left."""
        if self._web is not None:
            self._web.shutdown()
            self._web.server_close()
            self._web = None
        for proc in self._procs.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self._procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self._procs.clear()

    def __enter__(self) -> Bot:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bot run", description=__doc__)
    parser.add_argument("--rasa-port", type=int, default=int(os.environ.get("RASA_PORT", 5005)))
    parser.add_argument("--action-port", type=int, default=int(os.environ.get("ACTION_PORT", 5055)))
    parser.add_argument("--web-port", type=int, default=int(os.environ.get("WEB_PORT", 8080)))
    parser.add_argument(
        "--inbox-port", type=int, default=int(os.environ.get("INBOX_PORT", 5080))
    )
    parser.add_argument(
        "--telegram-polling", action="store_true",
        help="fetch Telegram updates with getUpdates instead of a public webhook (dev)",
    )
    args = parser.parse_args(argv)
    bot = Bot(BotConfig(rasa_port=args.rasa_port, action_port=args.action_port,
                        web_port=args.web_port, inbox_port=args.inbox_port,
                        telegram_polling=args.telegram_polling))
    stopping = threading.Event()

    def _stop(signum: int, frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    print("starting the action server and the Rasa server (about 30 s) ...", flush=True)
    try:
        bot.start()
    except StartupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    cfg = bot.config
    api_file = _write_api_file(cfg)
    print(
        f"\nLumo support bot is running:\n"
        f"  web chat      {cfg.web_url}\n"
        f"  REST webhook  {cfg.rasa_url}/webhooks/rest/webhook\n"
        f"  action server {cfg.action_url}\n"
        f"  agent inbox   {cfg.inbox_url}/  (agents: inbox.agents in supportbot.yml)\n"
        f"  logs          {cfg.log_dir}\n"
        f"Press Ctrl-C to stop.",
        flush=True,
    )
    code = 0
    while not stopping.wait(1.0):
        dead = bot.dead()
        if dead:
            print(f"error: {dead} stopped unexpectedly:\n{bot.log_tail(dead)}", file=sys.stderr)
            code = 1
            break
    print("stopping ...", flush=True)
    api_file.unlink(missing_ok=True)
    bot.stop()
    return code


def _write_api_file(cfg: BotConfig) -> Path:
    """var/rasa-api.json: where `python -m bot reload` finds this run's Rasa API.

    Readable by this user only: it holds the per-run token of Rasa's HTTP API.
    """
    path = PROJECT_ROOT / "var" / "rasa-api.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"url": cfg.rasa_url, "token": cfg.rasa_token}, out)
    return path


if __name__ == "__main__":
    sys.exit(main())

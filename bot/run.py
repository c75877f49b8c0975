"""Start the whole bot on 127.0.0.1: action and Rasa servers, agent inbox, web chat.

Two processes in two Python environments, as Rasa intends (Rasa 3.6 needs Python 3.10; the
ML stack needs 3.11), the agent inbox, plus a tiny static server for the web chat page.
The supervisor waits until every part answers its health check, then keeps them running:
a part that exits, or that stops answering its health check (hung), is killed and
restarted with exponential backoff, each restart logged (which part, why, exit code,
attempt). Only a crash loop of one part, or Ctrl-C/SIGTERM, stops everything. Logs append
and rotate by size (bot.supervisor). The end-to-end tests start the bot through the same
class, so what they test is what ``make run`` runs.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import logging
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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from bot.settings import PROJECT_ROOT
from bot.supervisor import CHILD_UMASK, DIR_MODE, FILE_MODE, Death, RestartPolicy, RotatingLog

logger = logging.getLogger(__name__)

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
        default_factory=lambda: os.environ.get("SUPPORTBOT_RASA_TOKEN") or secrets.token_urlsafe(32)
    )
    #: Supervision: when to restart a part that died and when to give up (crash loop).
    restart_policy: RestartPolicy = field(default_factory=RestartPolicy)
    #: Seconds between health checks of a running part, and each check's own timeout.
    #: A part that misses ``health_failures`` checks in a row is hung: killed, restarted.
    #: Rasa runs NLU on its event loop and answers its health route only between turns,
    #: so the timeout covers a slow turn on a loaded machine (a false "hung" would kill
    #: a working server mid-turn): ~36 s without an answer count as hung.
    health_interval: float = 2.0
    health_timeout: float = 10.0
    health_failures: int = 3
    #: How long a restarted part may take to answer its first health check.
    start_timeout: float = 240.0
    #: Each part's log (var/log/<part>.log) rotates at this size, keeping this many old ones.
    log_max_bytes: int = 10 * 1024 * 1024
    log_backups: int = 5
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


def _newest_model(model_dir: Path) -> Path:
    models = sorted(model_dir.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not models:
        raise StartupError(f"no trained Rasa model in {model_dir}; run `make train`")
    return models[-1]


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


@dataclass
class _Part:
    """One supervised process: how to start it, how to tell it is well, its history."""

    name: str
    #: Built at each start: a restart picks up the newest model and the current environment.
    command: Callable[[], list[str]]
    health_url: str | None
    log: RotatingLog
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    #: When the current process first answered its health check (None: not yet).
    up_since: float | None = None
    misses: int = 0
    attempt: int = 0
    restarts: list[float] = field(default_factory=list)
    #: Held for every change of ``proc``: the watcher and restart_actions never race.
    lock: threading.RLock = field(default_factory=threading.RLock)
    watcher: threading.Thread | None = None


def _pump(proc: subprocess.Popen[bytes], log: RotatingLog) -> None:
    """Copy a child's output into its log until the child closes it (exits)."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    with contextlib.suppress(OSError, ValueError):
        while chunk := os.read(fd, 65536):
            log.write(chunk)
    with contextlib.suppress(OSError):
        proc.stdout.close()


def _kill(proc: subprocess.Popen[bytes], sig: int, wait: float) -> bool:
    """Send ``sig`` to the process group of ``proc``; whether it exited within ``wait`` s."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
            if sig != signal.SIGKILL:
                # A stopped process would not act on SIGTERM until continued.
                os.killpg(proc.pid, signal.SIGCONT)
    try:
        proc.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        return False
    return True


def _terminate(proc: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds."""
    if not _kill(proc, signal.SIGTERM, grace):
        _kill(proc, signal.SIGKILL, 30)


def _exit_reason(code: int) -> str:
    """``exited with code 1`` / ``killed by SIGKILL``: what a log reader needs first."""
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
        return f"killed by signal {-code}"
    return f"exited with code {code}"


class Bot:
    """The running bot; use as a context manager or call start()/stop().

    After start() every part is supervised: a part that exits, or whose health check
    fails ``health_failures`` times in a row (hung, SIGSTOPped), is killed and restarted
    with backoff (bot.supervisor.RestartPolicy). A crash loop of one part stops the whole
    bot; :meth:`failure` then says why.
    """

    def __init__(self, config: BotConfig) -> None:
        self.config = config
        self._parts: dict[str, _Part] = {}
        self._web: http.server.ThreadingHTTPServer | None = None
        self._stopping = threading.Event()
        self._deaths: list[Death] = []
        self._failure: str | None = None
        self._journal: RotatingLog | None = None

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
                # Python writes its own output unbuffered: the log ends where a crash did.
                "PYTHONUNBUFFERED": "1",
                # Where our own processes reach Rasa's HTTP API (inbox, actions, reload);
                # the token only ever travels in the environment (bot.rasa_server).
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

    def _rasa_cmd(self) -> list[str]:
        cfg = self.config
        return [str(cfg.rasa_python), "-m", "bot.rasa_server",
                "--model", str(_newest_model(cfg.model_dir)),
                "--endpoints", str(cfg.endpoints_file),
                "--credentials", str(cfg.credentials_file),
                "--interface", cfg.host, "--port", str(cfg.rasa_port),
                "--enable-api",
                "--cors", f"http://{cfg.host}:{cfg.web_port}"]

    def _inbox_cmd(self) -> list[str]:
        cfg = self.config
        return [str(cfg.action_python), "-m", "bot", "inbox", "serve",
                "--host", cfg.host, "--port", str(cfg.inbox_port),
                "--rasa-url", cfg.rasa_url, "--endpoints", str(cfg.endpoints_file)]

    def _poll_cmd(self) -> list[str]:
        cfg = self.config
        return [str(cfg.rasa_python), "-m", "connectors.telegram",
                "--credentials", str(cfg.credentials_file), "poll",
                "--rasa-url", cfg.rasa_url]

    def _note(self, text: str, part: _Part | None = None) -> None:
        """A supervisor event: into supervisor.log, the part's own log and Python logging."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        line = f"{stamp} supervisor: {text}"
        if self._journal is not None:
            self._journal.line(line)
        if part is not None:
            part.log.line(f"=== {line} ===")
        logger.warning("%s", text)

    def add_part(
        self, name: str, command: Callable[[], list[str]], health_url: str | None = None
    ) -> None:
        """Start one more process and supervise it at once (health: GET ``health_url``).

        start() adds the bot's own parts this way, but supervises them only once all
        of them are up; tests add small processes to watch the supervisor at work.
        """
        if self._journal is None:
            self._journal = self._open_journal()
        self._watch_in_background(self._add(name, command, health_url))

    def _open_journal(self) -> RotatingLog:
        cfg = self.config
        return RotatingLog(cfg.log_dir / "supervisor.log", cfg.log_max_bytes, cfg.log_backups)

    def _watch_in_background(self, part: _Part) -> None:
        part.watcher = threading.Thread(
            target=self._watch, args=(part,), name=f"watch-{part.name}", daemon=True
        )
        part.watcher.start()

    def _add(self, name: str, command: Callable[[], list[str]], health_url: str | None) -> _Part:
        cfg = self.config
        part = self._parts.get(name)
        if part is None:
            log = RotatingLog(cfg.log_dir / f"{name}.log", cfg.log_max_bytes, cfg.log_backups)
            part = self._parts[name] = _Part(name, command, health_url, log)
        self._spawn(part)
        return part

    def _spawn(self, part: _Part) -> None:
        with part.lock:
            proc = subprocess.Popen(
                part.command(),
                cwd=PROJECT_ROOT,
                env=self._env(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches the supervisor, which stops them
                umask=CHILD_UMASK,  # databases, logs, state files: this user only
            )
            part.proc = proc
            part.started_at = time.monotonic()
            part.up_since = None
            part.misses = 0
            threading.Thread(
                target=_pump, args=(proc, part.log), name=f"log-{part.name}", daemon=True
            ).start()
            self._note(f"started {part.name} (pid {proc.pid})", part)

    def _wait_healthy(self, part: _Part, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = part.proc
            if proc is not None and proc.poll() is not None:
                raise StartupError(
                    f"{part.name} exited with code {proc.returncode} during start-up:\n"
                    + part.log.tail()
                )
            if proc is not None and (part.health_url is None or _get(part.health_url) == 200):
                self._mark_up(part, proc)
                return
            time.sleep(0.5)
        raise StartupError(
            f"{part.name} did not answer {part.health_url} within {timeout:.0f} s:\n"
            + part.log.tail()
        )

    def start(self, timeout: float = 240.0) -> Bot:
        cfg = self.config
        cfg.tracker_db.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        cfg.log_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        _newest_model(cfg.model_dir)  # fail now, naming the fix, rather than in a child
        self._stopping.clear()
        self._failure = None
        self._parts.clear()
        self._deaths.clear()
        self._journal = self._open_journal()
        try:
            actions = self._add("actions", self._action_cmd, f"{cfg.action_url}/health")
            rasa = self._add("rasa", self._rasa_cmd, f"{cfg.rasa_url}/")
            inbox = None
            if cfg.serve_inbox:
                if cfg.inbox_port == 0:
                    cfg.inbox_port = free_port()
                inbox = self._add("inbox", self._inbox_cmd, f"{cfg.inbox_url}/health")
            self._wait_healthy(actions, timeout)
            self._wait_healthy(rasa, timeout)
            if cfg.telegram_polling:
                self._add("telegram-poll", self._poll_cmd, None)
            if inbox is not None:
                self._wait_healthy(inbox, timeout)
            if cfg.serve_web:
                self._start_web()
        except BaseException:
            self.stop()
            raise
        for part in self._parts.values():
            self._watch_in_background(part)
        return self

    def _watch(self, part: _Part) -> None:
        """Restart ``part`` whenever it dies or stops answering, until the bot stops."""
        cfg = self.config
        while not self._stopping.wait(cfg.health_interval):
            with part.lock:
                proc = part.proc
            if proc is None:  # being replaced by restart_actions
                continue
            reason = self._check(part, proc)
            if reason is None:
                continue
            delay = self._bury(part, proc, reason)
            if delay is None or self._stopping.wait(delay):
                continue
            with part.lock:
                if part.proc is None and not self._stopping.is_set():
                    try:
                        self._spawn(part)
                    except OSError as exc:  # e.g. the interpreter vanished: counts as a death
                        self._note(f"could not start {part.name}: {exc}", part)
                        self._fail_if_looping(part, time.monotonic())

    def _check(self, part: _Part, proc: subprocess.Popen[bytes]) -> str | None:
        """Why ``proc`` must be replaced now, or None while it is well (or still starting)."""
        cfg = self.config
        code = proc.poll()
        if code is not None:
            return _exit_reason(code)
        if part.health_url is None:
            return None
        healthy = _get(part.health_url, timeout=cfg.health_timeout) == 200
        now = time.monotonic()
        with part.lock:
            if part.proc is not proc:
                return None
            if healthy:
                part.misses = 0
                self._mark_up(part, proc)
                return None
            if part.up_since is None:
                if now - part.started_at > cfg.start_timeout:
                    return f"did not answer its health check within {cfg.start_timeout:.0f} s"
                return None
            part.misses += 1
            if part.misses >= cfg.health_failures:
                return (
                    f"health check {part.health_url} failed {part.misses} times in a row "
                    f"({cfg.health_timeout:g} s timeout): hung"
                )
        return None

    def _mark_up(self, part: _Part, proc: subprocess.Popen[bytes]) -> None:
        """``proc`` answered its health check: from now on missed checks count as a hang."""
        with part.lock:
            if part.proc is proc and part.up_since is None:
                part.up_since = time.monotonic()
                self._note(f"{part.name} is up (pid {proc.pid})", part)

    def _bury(self, part: _Part, proc: subprocess.Popen[bytes], reason: str) -> float | None:
        """Kill what is left of ``proc``, record its death; the delay before its restart.

        None when there is to be no restart: someone replaced it meanwhile, or the part
        is in a crash loop (the bot is then stopping).
        """
        policy = self.config.restart_policy
        with part.lock:
            if part.proc is not proc:
                return None
            _kill(proc, signal.SIGKILL, 30)
            part.proc = None
            now = time.monotonic()
            part.attempt = policy.next_attempt(part.attempt, part.up_since, now)
            delay = policy.delay(part.attempt)
            death = Death(part.name, reason, proc.returncode, part.attempt, delay, time.time())
            self._deaths.append(death)
            self._note(
                f"{part.name} (pid {proc.pid}) {reason}; exit code {proc.returncode}; "
                f"restart attempt {part.attempt} in {delay:g} s",
                part,
            )
            if self._fail_if_looping(part, now):
                return None
            return delay

    def _fail_if_looping(self, part: _Part, now: float) -> bool:
        policy = self.config.restart_policy
        part.restarts.append(now)
        if not policy.crash_loop(part.restarts, now):
            return False
        self._failure = (
            f"{part.name} is in a crash loop: {len(policy.recent(part.restarts, now))} "
            f"restarts within {policy.window:g} s; stopping the bot. Its last lines:\n"
            + part.log.tail()
        )
        self._note(self._failure.splitlines()[0])
        self._stopping.set()
        # Stop the other parts from a thread of their own: this watcher holds a lock.
        threading.Thread(target=self._stop_parts, name="crash-loop-stop", daemon=True).start()
        return True

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
        A planned restart: not a death, not counted towards a crash loop.
        """
        part = self._parts["actions"]
        with part.lock:
            old, part.proc = part.proc, None
            if old is not None:
                _terminate(old, 30)
                self._note(f"stopped actions (pid {old.pid}) for a planned restart", part)
            self.config.extra_env = {**self.config.extra_env, **extra_env}
            self._spawn(part)
        self._wait_healthy(part, timeout)

    def wait_up(self, name: str, timeout: float = 240.0) -> int:
        """Wait until part ``name`` runs and answers its health check; returns its pid."""
        part = self._parts[name]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._failure is not None:
                raise StartupError(self._failure)
            proc = part.proc
            if proc is not None and proc.poll() is None and (
                part.health_url is None or _get(part.health_url) == 200
            ):
                self._mark_up(part, proc)
                return proc.pid
            time.sleep(0.5)
        raise StartupError(f"{name} was not back within {timeout:.0f} s:\n{part.log.tail()}")

    def pids(self) -> dict[str, int]:
        """Process ids of the running parts (benchmarks read their memory from /proc)."""
        return {name: p.proc.pid for name, p in self._parts.items() if p.proc is not None}

    def deaths(self) -> list[Death]:
        """Every unplanned end of a part since start, oldest first (restarts follow them)."""
        return list(self._deaths)

    def dead(self) -> str | None:
        """Name of a part that died since start (even if restarted since), or None."""
        if self._deaths:
            return self._deaths[0].part
        for name, part in self._parts.items():
            proc = part.proc
            if proc is not None and proc.poll() is not None:
                return name
        return None

    def failure(self) -> str | None:
        """Why the supervisor gave up (a crash loop), or None while it has not."""
        return self._failure

    def log_tail(self, name: str, lines: int = 40) -> str:
        return self._parts[name].log.tail(lines)

    def _stop_parts(self, grace: float = 15.0) -> None:
        """SIGTERM every part, wait, then SIGKILL what is left."""
        procs: list[subprocess.Popen[bytes]] = []
        for part in self._parts.values():
            with part.lock:
                if part.proc is not None:
                    procs.append(part.proc)
                    part.proc = None
        for proc in procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGTERM)
                    os.killpg(proc.pid, signal.SIGCONT)
        deadline = time.monotonic() + grace
        for proc in procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _kill(proc, signal.SIGKILL, 30)

    def stop(self, grace: float = 15.0) -> None:
        """Stop supervising, then every part (SIGTERM, wait, SIGKILL what is left)."""
        self._stopping.set()
        if self._web is not None:
            self._web.shutdown()
            self._web.server_close()
            self._web = None
        for part in self._parts.values():
            if part.watcher is not None and part.watcher is not threading.current_thread():
                part.watcher.join(timeout=self.config.health_timeout + 35)
                part.watcher = None
        self._stop_parts(grace)
        for part in self._parts.values():  # kept: log_tail still reads them after a stop
            part.log.close()
        if self._journal is not None:
            self._journal.close()
            self._journal = None

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
    # Restarts are announced on stderr as well as in var/log/supervisor.log.
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
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
        f"  REST webhook  {cfg.rasa_url}/webhooks/webchat/webhook\n"
        f"  action server {cfg.action_url}\n"
        f"  agent inbox   {cfg.inbox_url}/  (agents: inbox.agents in supportbot.yml)\n"
        f"  logs          {cfg.log_dir}\n"
        f"Press Ctrl-C to stop.",
        flush=True,
    )
    code = 0
    while not stopping.wait(1.0):
        failure = bot.failure()
        if failure:
            print(f"error: {failure}", file=sys.stderr)
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
    path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    os.fchmod(fd, FILE_MODE)  # one left by an older run keeps its mode otherwise
    with os.fdopen(fd, "w") as out:
        json.dump({"url": cfg.rasa_url, "token": cfg.rasa_token}, out)
    return path


if __name__ == "__main__":
    sys.exit(main())

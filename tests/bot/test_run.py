"""bot.run's supervisor at work on small real processes (a tiny HTTP server per part).

The end-to-end fault tests (tests/e2e/test_faults.py) do the same to the real Rasa,
action and inbox servers; these run in seconds, with a fast health check and short
backoff, so every branch of the supervision is covered on each run.
"""

from __future__ import annotations

import os
import signal
import stat
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.run import Bot, BotConfig, free_port
from bot.supervisor import RestartPolicy

#: A part that writes a file (to show the umask it gets) and then serves HTTP.
SERVER = (
    "import http.server, sys, pathlib;"
    "pathlib.Path(sys.argv[2]).write_text('state');"
    "print('serving', flush=True);"
    "http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])),"
    " http.server.SimpleHTTPRequestHandler).serve_forever()"
)


@pytest.fixture()
def bot(tmp_path: Path) -> Iterator[Bot]:
    running = Bot(
        BotConfig(
            log_dir=tmp_path / "log",
            health_interval=0.2,
            health_timeout=1.0,
            health_failures=2,
            start_timeout=20.0,
            restart_policy=RestartPolicy(base_delay=0.1, max_delay=0.4, max_restarts=3,
                                         window=60.0, stable_after=60.0),
        )
    )
    yield running
    running.stop(grace=5)


def server(tmp_path: Path, port: int) -> Callable[[], list[str]]:
    return lambda: [sys.executable, "-c", SERVER, str(port), str(tmp_path / "state.txt")]


def until(condition: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_a_killed_part_is_restarted_and_its_death_logged(bot: Bot, tmp_path: Path) -> None:
    port = free_port()
    bot.add_part("web", server(tmp_path, port), f"http://127.0.0.1:{port}/")
    first = bot.wait_up("web", timeout=30)
    os.kill(first, signal.SIGKILL)
    until(lambda: bot.deaths(), "the death was not noticed")
    [death] = bot.deaths()
    assert (death.part, death.reason, death.exit_code, death.attempt) == (
        "web", "killed by SIGKILL", -9, 1
    )
    assert bot.wait_up("web", timeout=30) != first
    assert bot.dead() == "web" and bot.failure() is None
    journal = (tmp_path / "log" / "supervisor.log").read_text()
    assert f"web (pid {first}) killed by SIGKILL; exit code -9; restart attempt 1" in journal
    # The part's log was appended to, not truncated: both processes' output is in it.
    log = (tmp_path / "log" / "web.log").read_text()
    assert log.count("serving") == 2 and log.count("supervisor: started web") == 2


def test_a_stopped_part_is_taken_for_hung_killed_and_restarted(
    bot: Bot, tmp_path: Path
) -> None:
    port = free_port()
    bot.add_part("web", server(tmp_path, port), f"http://127.0.0.1:{port}/")
    first = bot.wait_up("web", timeout=30)
    os.kill(first, signal.SIGSTOP)
    until(lambda: bot.deaths(), "the hung part was not noticed")
    [death] = bot.deaths()
    assert "failed 2 times in a row" in death.reason and death.exit_code == -9
    assert bot.wait_up("web", timeout=30) != first


def test_a_part_without_health_check_is_restarted_when_it_exits(
    bot: Bot, tmp_path: Path
) -> None:
    bot.add_part("poll", lambda: [sys.executable, "-c", "import time; time.sleep(60)"])
    first = bot.wait_up("poll")
    os.kill(first, signal.SIGTERM)
    until(lambda: bot.deaths(), "the exit was not noticed")
    assert bot.deaths()[0].reason == "killed by SIGTERM"
    assert bot.wait_up("poll") != first


def test_a_crash_loop_stops_every_part_and_says_which(bot: Bot, tmp_path: Path) -> None:
    port = free_port()
    bot.add_part("web", server(tmp_path, port), f"http://127.0.0.1:{port}/")
    healthy = bot.wait_up("web", timeout=30)
    bot.add_part("broken", lambda: [sys.executable, "-c", "print('no model'); raise SystemExit(3)"])
    until(bot.failure, "no crash loop was declared")
    failure = bot.failure() or ""
    assert failure.startswith("broken is in a crash loop: 4 restarts within 60 s")
    assert "no model" in failure  # its last log lines explain why
    assert [d.reason for d in bot.deaths()] == ["exited with code 3"] * 4
    # The healthy part is stopped too: the bot stops as a whole.
    until(lambda: "web" not in bot.pids(), "the other part kept running")
    with pytest.raises(ProcessLookupError):
        os.kill(healthy, 0)


def test_children_create_private_files(bot: Bot, tmp_path: Path) -> None:
    port = free_port()
    bot.add_part("web", server(tmp_path, port), f"http://127.0.0.1:{port}/")
    bot.wait_up("web", timeout=30)
    assert stat.S_IMODE((tmp_path / "state.txt").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "log").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "log" / "web.log").stat().st_mode) == 0o600


def test_after_stop_nothing_is_restarted(bot: Bot, tmp_path: Path) -> None:
    port = free_port()
    bot.add_part("web", server(tmp_path, port), f"http://127.0.0.1:{port}/")
    pid = bot.wait_up("web", timeout=30)
    bot.stop(grace=5)
    time.sleep(1.0)  # several health intervals: a watcher still running would respawn
    assert bot.pids() == {} and bot.deaths() == []
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert "supervisor: started web" in bot.log_tail("web")


def test_a_planned_restart_of_the_action_server_is_no_death(bot: Bot, tmp_path: Path) -> None:
    # restart_actions (tests pin the clock this way) replaces the running process with
    # one that sees the new environment; the supervisor must not count or undo it.
    port = free_port()
    bot.add_part("actions", server(tmp_path, port), f"http://127.0.0.1:{port}/")
    first = bot.wait_up("actions", timeout=30)
    bot.restart_actions({"SUPPORTBOT_FAKE_NOW": "2026-11-29T10:00:00+01:00"}, timeout=30)
    second = bot.pids()["actions"]
    assert second != first
    environ = Path(f"/proc/{second}/environ").read_bytes().split(b"\0")
    assert b"SUPPORTBOT_FAKE_NOW=2026-11-29T10:00:00+01:00" in environ
    time.sleep(1.0)  # several health intervals: the watcher leaves the new process alone
    assert bot.pids()["actions"] == second and bot.deaths() == []
    assert "for a planned restart" in bot.log_tail("actions")

"""The supervisor's restart policy (pure, ``now`` passed in) and its rotating log files."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest

from bot.supervisor import FILE_MODE, RestartPolicy, RotatingLog

POLICY = RestartPolicy(base_delay=1.0, max_delay=30.0, max_restarts=5, window=600.0,
                       stable_after=120.0)


@pytest.mark.parametrize(
    ("attempt", "delay"), [(1, 1.0), (2, 2.0), (3, 4.0), (5, 16.0), (6, 30.0), (1000, 30.0)]
)
def test_the_delay_doubles_from_the_base_up_to_the_cap(attempt: int, delay: float) -> None:
    assert POLICY.delay(attempt) == delay


def test_attempts_count_from_one() -> None:
    with pytest.raises(ValueError, match="attempt counts from 1"):
        POLICY.delay(0)


def test_a_part_that_never_came_up_continues_its_series() -> None:
    assert POLICY.next_attempt(3, up_since=None, now=1000.0) == 4


def test_a_part_that_was_up_briefly_continues_its_series() -> None:
    assert POLICY.next_attempt(3, up_since=950.0, now=1000.0) == 4


def test_a_part_that_stayed_up_starts_a_new_series_without_delay() -> None:
    # One crash after hours of service is restarted after the base delay, not 16 s.
    assert POLICY.next_attempt(5, up_since=0.0, now=120.0) == 1
    assert POLICY.delay(POLICY.next_attempt(5, up_since=0.0, now=5000.0)) == 1.0


def test_up_to_max_restarts_within_the_window_is_not_a_crash_loop() -> None:
    assert not POLICY.crash_loop([10.0, 20.0, 30.0, 40.0, 50.0], now=50.0)


def test_one_more_restart_within_the_window_is_a_crash_loop() -> None:
    assert POLICY.crash_loop([10.0, 20.0, 30.0, 40.0, 50.0, 60.0], now=60.0)


def test_restarts_older_than_the_window_no_longer_count() -> None:
    times = [0.0, 100.0, 200.0, 300.0, 400.0, 650.0]
    assert POLICY.recent(times, now=650.0) == [100.0, 200.0, 300.0, 400.0, 650.0]
    assert not POLICY.crash_loop(times, now=650.0)


def test_an_empty_history_is_no_crash_loop() -> None:
    assert not POLICY.crash_loop([], now=0.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"base_delay": -1.0}, "base_delay"),
        ({"base_delay": 10.0, "max_delay": 5.0}, "max_delay"),
        ({"max_restarts": 0}, "max_restarts"),
        ({"window": 0.0}, "window"),
    ],
)
def test_a_nonsensical_policy_is_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RestartPolicy(**kwargs)  # type: ignore[arg-type]


# --- RotatingLog -------------------------------------------------------------------------


def test_a_log_appends_to_what_an_earlier_run_left(tmp_path: Path) -> None:
    path = tmp_path / "rasa.log"
    path.write_bytes(b"Traceback of the crash\n")
    log = RotatingLog(path)
    log.write(b"restarted\n")
    log.close()
    assert path.read_bytes() == b"Traceback of the crash\nrestarted\n"


def test_a_log_and_its_folder_are_private(tmp_path: Path) -> None:
    path = tmp_path / "log" / "actions.log"
    RotatingLog(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == FILE_MODE
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_an_existing_world_readable_log_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "inbox.log"
    path.write_bytes(b"old\n")
    path.chmod(0o644)
    RotatingLog(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == FILE_MODE


def test_a_log_rotates_by_size_and_keeps_the_newest_backups(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    log = RotatingLog(path, max_bytes=10, backups=2)
    for i in range(5):
        log.write(f"line {i}..\n".encode())  # 9 bytes each: one per file
    log.close()
    assert path.read_bytes() == b"line 4..\n"
    assert (tmp_path / "x.log.1").read_bytes() == b"line 3..\n"
    assert (tmp_path / "x.log.2").read_bytes() == b"line 2..\n"
    assert not (tmp_path / "x.log.3").exists()
    assert stat.S_IMODE((tmp_path / "x.log.1").stat().st_mode) == FILE_MODE


def test_a_chunk_larger_than_the_limit_is_kept_whole(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    log = RotatingLog(path, max_bytes=4, backups=1)
    log.write(b"a long traceback\n")
    log.close()
    assert path.read_bytes() == b"a long traceback\n"


def test_without_backups_a_full_log_starts_again(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    log = RotatingLog(path, max_bytes=10, backups=0)
    log.write(b"12345678\n")
    log.write(b"abcdefgh\n")
    log.close()
    assert path.read_bytes() == b"abcdefgh\n"
    assert list(tmp_path.iterdir()) == [path]


def test_writers_on_several_threads_lose_no_line(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    log = RotatingLog(path, max_bytes=1000, backups=50)

    def write(n: int) -> None:
        for i in range(200):
            log.line(f"writer {n} line {i}")

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    lines = [
        line
        for f in tmp_path.iterdir()
        for line in f.read_text().splitlines()
    ]
    assert sorted(lines) == sorted(f"writer {n} line {i}" for n in range(4) for i in range(200))


def test_the_tail_is_the_last_lines_and_survives_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    log = RotatingLog(path)
    for i in range(50):
        log.line(f"line {i}")
    assert log.tail(2) == "line 48\nline 49"
    log.close()
    path.unlink()
    assert log.tail() == "(no log)"


def test_writing_after_close_is_ignored_not_an_error(tmp_path: Path) -> None:
    # The pipe reader of a killed child may deliver its last bytes after bot.stop().
    log = RotatingLog(tmp_path / "x.log")
    log.close()
    log.write(b"late\n")
    assert (tmp_path / "x.log").read_bytes() == b""

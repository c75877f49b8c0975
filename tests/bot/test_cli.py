"""``python -m bot tickets …`` as an operator runs it: a subprocess, a settings file, a
SQLite ticket database in a temporary folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.tickets.model import TicketDraft, Turn
from bot.tickets.store import SQLiteTicketStore

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)  # 09:00 in Ljubljana


Result = subprocess.CompletedProcess


def run_cli(*args: str, env: dict[str, str] | None = None) -> Result:
    full_env = {k: v for k, v in os.environ.items() if k != "SUPPORTBOT_CONFIG"}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], cwd=ROOT, capture_output=True, text=True,
        timeout=120, env=full_env,
    )


def database(settings_file: Path) -> Path:
    data = yaml.safe_load(settings_file.read_text("utf-8"))
    return Path(data["tickets"]["database"])


def edit_settings(settings_file: Path, section: str, **values: Any) -> None:
    data = yaml.safe_load(settings_file.read_text("utf-8"))
    data[section].update(values)
    settings_file.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")


@pytest.fixture()
def seeded(settings_file: Path) -> dict[str, Any]:
    clock = iter(T0 + timedelta(minutes=i) for i in range(100))
    store = SQLiteTicketStore(database(settings_file), clock=lambda: next(clock))
    sl = store.create(TicketDraft(
        conversation_id="tg-5550123", channel="telegram", customer_id="5550123",
        language="sl", reason="kb_not_helpful", queue="billing-sl", priority="high",
        tags=("double_charge",), summary='Customer (sl): "Dvakrat ste mi zaračunali"',
        transcript=[
            Turn(T0, "customer", "Dvakrat ste mi zaračunali!", language="sl",
                 translation="You charged me twice!", intent="double_charge",
                 confidence=0.912, message_id="tg-102", channel="telegram"),
            Turn(T0 + timedelta(seconds=1), "bot", "Žal nam je.\nPreverite izpisek.",
                 language="sl", kb_articles=("double-charge", "refund-times"),
                 channel="telegram"),
        ],
    ))
    ar = store.create(TicketDraft(
        conversation_id="wc-8f2e9a", channel="webchat", customer_id="wc-8f2e9a",
        language="ar", reason="asked_for_human", queue="orders-ar", after_hours=True,
        promised_reply_at=datetime(2026, 3, 3, 7, 0, tzinfo=timezone.utc),
        transcript=[Turn(T0, "customer", "أين طلبي؟", language="ar",
                         translation="Where is my order?", intent="order_status",
                         confidence=0.83)],
    ))
    store.set_status(ar.number, "open")
    store.close()
    return {"sl": sl, "ar": ar, "config": str(settings_file)}


def table(stdout: str) -> list[list[str]]:
    return [line.split() for line in stdout.splitlines()]


def test_list(seeded: dict[str, Any]) -> None:
    result = run_cli("--config", seeded["config"], "tickets", "list")
    assert result.returncode == 0, result.stderr
    rows = table(result.stdout)
    assert rows[0] == ["ref", "created", "status", "priority", "queue", "language",
                       "channel", "reason", "after-hours"]
    assert rows[1] == ["LU-000002", "2026-03-02", "09:01", "open", "normal",
                       "orders-ar", "ar", "webchat", "asked_for_human", "yes"]
    assert rows[2] == ["LU-000001", "2026-03-02", "09:00", "new", "high",
                       "billing-sl", "sl", "telegram", "kb_not_helpful", "no"]
    assert "2 ticket(s); times in Europe/Ljubljana" in result.stdout
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("filters", "refs"),
    [
        (["--status", "open"], ["LU-000002"]),
        (["--queue", "billing-sl"], ["LU-000001"]),
        (["--language", "ar"], ["LU-000002"]),
        (["--limit", "1"], ["LU-000002"]),
        (["--status", "resolved"], []),
    ],
)
def test_list_filters(
    seeded: dict[str, Any], filters: list[str], refs: list[str]
) -> None:
    result = run_cli("--config", seeded["config"], "tickets", "list", *filters)
    assert result.returncode == 0, result.stderr
    rows = table(result.stdout)
    listed = [row[0] for row in rows if row and row[0].startswith("LU-")]
    assert listed == refs
    if not refs:
        assert result.stdout.strip() == "No tickets match."


def test_list_json(seeded: dict[str, Any]) -> None:
    result = run_cli("--config", seeded["config"], "tickets", "list", "--json")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [d["ref"] for d in lines] == ["LU-000002", "LU-000001"]
    assert lines[0]["promised_reply_at"] == "2026-03-03T07:00:00+00:00"
    assert "transcript" not in lines[0]


@pytest.mark.parametrize("ref", ["LU-000001", "1", "lu-1", "#1"])
def test_show(seeded: dict[str, Any], ref: str) -> None:
    result = run_cli("--config", seeded["config"], "tickets", "show", ref)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("Ticket LU-000001\n")
    for expected in [
        "status:       new",
        "priority:     high",
        "queue:        billing-sl",
        "language:     sl",
        "channel:      telegram",
        "customer:     5550123",
        "conversation: tg-5550123",
        "reason:       kb_not_helpful",
        "after hours:  no",
        "created:      2026-03-02 09:00 (Europe/Ljubljana)",
        "tags:         double_charge",
        'summary:      Customer (sl): "Dvakrat ste mi zaračunali"',
        "Transcript (2 turns)",
        "2026-03-02 09:00:00  customer  [sl]  double_charge(0.91)  via telegram",
        "      Dvakrat ste mi zaračunali!",
        "      translation: You charged me twice!",
        "2026-03-02 09:00:01  bot  [sl]  via telegram",
        "      Žal nam je.\n      Preverite izpisek.",
        "      KB articles: double-charge, refund-times",
    ]:
        assert expected in out, expected


def test_show_after_hours_ticket(seeded: dict[str, Any]) -> None:
    result = run_cli("--config", seeded["config"], "tickets", "show", "LU-000002")
    assert "after hours:  yes, reply promised by 2026-03-03 08:00" in result.stdout
    assert "status:       open" in result.stdout
    assert "أين طلبي؟" in result.stdout and "order_status(0.83)" in result.stdout


def test_show_json(seeded: dict[str, Any]) -> None:
    result = run_cli("--config", seeded["config"], "tickets", "show", "2", "--json")
    data = json.loads(result.stdout)
    assert data["ref"] == "LU-000002"
    assert data["transcript"][0]["text"] == "أين طلبي؟"


def test_settings_file_from_environment(seeded: dict[str, Any]) -> None:
    result = run_cli("tickets", "list", env={"SUPPORTBOT_CONFIG": seeded["config"]})
    assert result.returncode == 0 and "LU-000001" in result.stdout


def test_show_unknown_ticket(seeded: dict[str, Any]) -> None:
    result = run_cli("--config", seeded["config"], "tickets", "show", "LU-000099")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip() == "supportbot: no ticket LU-000099"


def test_show_bad_reference(seeded: dict[str, Any]) -> None:
    result = run_cli("--config", seeded["config"], "tickets", "show", "XX-1")
    assert result.returncode == 2
    assert "not a ticket reference" in result.stderr


def assert_one_line_error(result: Result, *words: str) -> None:
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("supportbot: error: ")
    for word in words:
        assert word in lines[0], (word, lines[0])


def test_missing_settings_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yml"
    result = run_cli("--config", str(missing), "tickets", "list")
    assert_one_line_error(result, str(missing), "settings file not found", "fix:")


def test_corrupt_database(settings_file: Path) -> None:
    db = database(settings_file)
    db.write_bytes(b"definitely not sqlite\n" * 20)
    result = run_cli("--config", str(settings_file), "tickets", "list")
    assert_one_line_error(result, str(db), "not a SQLite database", "fix:")


def test_bad_database_setting(settings_file: Path) -> None:
    edit_settings(settings_file, "tickets", database="mysql://root@db/tickets")
    result = run_cli("--config", str(settings_file), "tickets", "show", "1")
    assert_one_line_error(result, str(settings_file), "tickets.database")


def test_unreachable_postgres(settings_file: Path) -> None:
    edit_settings(
        settings_file, "tickets", database="postgresql://support:pw@127.0.0.1:1/t"
    )
    result = run_cli("--config", str(settings_file), "tickets", "list")
    assert_one_line_error(result, "postgresql://support:***@127.0.0.1:1/t", "fix:")
    assert ":pw@" not in result.stderr


def test_bad_timezone_is_a_config_error(settings_file: Path) -> None:
    edit_settings(settings_file, "business_hours", timezone="Mars/Olympus")
    result = run_cli("--config", str(settings_file), "tickets", "list")
    assert_one_line_error(result, "business_hours.timezone")


def test_usage() -> None:
    result = run_cli()
    assert result.returncode == 2
    assert "tickets" in result.stderr
    result = run_cli("tickets")
    assert result.returncode == 2
    assert "list" in result.stderr and "show" in result.stderr
    result = run_cli("tickets", "list", "--limit", "0")
    assert result.returncode == 2 and "must be 1 or more" in result.stderr
    result = run_cli("--help")
    assert result.returncode == 0 and "--config" in result.stdout
    result = run_cli("tickets", "list", "--bogus")
    assert result.returncode == 2 and "unrecognized arguments: --bogus" in result.stderr


def test_run_passes_its_options_on() -> None:
    # `make run` calls `python -m bot run`; bot.run parses its own options.
    result = run_cli("run", "--help")
    assert result.returncode == 0, result.stderr
    assert "--rasa-port" in result.stdout


def test_main_is_the_console_script_entry_point() -> None:
    import tomllib

    from bot.cli import main

    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    assert project["project"]["scripts"]["supportbot"] == "bot.cli:main"
    assert main(["tickets", "show", "not-a-ref"]) == 2


def test_show_has_the_handoff_state_and_history(seeded: dict[str, Any]) -> None:
    store = SQLiteTicketStore(database(Path(seeded["config"])))
    store.assign(1, "ana", now=T0 + timedelta(minutes=30))
    store.add_agent_reply(1, "ana", Turn(T0 + timedelta(minutes=35), "agent", "Hi"),
                          now=T0 + timedelta(minutes=35))
    store.add_note(1, "ana", "refund approved", now=T0 + timedelta(minutes=36))
    store.resolve(1, "ana", now=T0 + timedelta(minutes=40))
    store.ask_csat(1, now=T0 + timedelta(minutes=40))
    store.set_csat(1, 4, now=T0 + timedelta(minutes=41))
    store.close()
    out = run_cli("--config", seeded["config"], "tickets", "show", "1").stdout
    for expected in [
        "assignee:     ana", "1st reply:    2026-03-02 09:35",
        "resolved:     2026-03-02 09:40", "csat:         4/5", "History (7 events)",
        "2026-03-02 09:30:00  assigned         ana        "
        "assignee=ana, from=new, to=open",
        "2026-03-02 09:36:00  note             ana        text=refund approved",
        "2026-03-02 09:41:00  csat             customer   score=4",
    ]:
        assert expected in out, (expected, out)
    data = json.loads(run_cli("--config", seeded["config"], "tickets", "show", "1",
                              "--json").stdout)
    assert [e["kind"] for e in data["events"]] == [
        "created", "assigned", "agent_reply", "note", "resolved", "csat_asked", "csat"]
    mine = run_cli("--config", seeded["config"], "tickets", "list", "--assignee", "ana",
                   "--json").stdout.splitlines()
    assert [json.loads(line)["ref"] for line in mine] == ["LU-000001"]
    late = run_cli("--config", seeded["config"], "tickets", "list", "--after-hours",
                   "--json").stdout.splitlines()
    assert [json.loads(line)["ref"] for line in late] == ["LU-000002"]

"""`bot review`: misunderstood messages from Rasa's SQL tracker store, and labelling them.

The tracker rows are written in Rasa's own schema and event JSON (SQLTrackerStore's
``events`` table, ``UserUttered.as_dict()``); the end-to-end test reads a store the real
bot wrote (tests/e2e/test_reload.py).
"""

from __future__ import annotations

import io
import json
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.editor import review
from bot.editor.cli import cmd_label
from bot.editor.nludata import load_nlu
from bot.editor.validate import Project, validate
from bot.errors import SupportBotError
from tests.bot.editor.conftest import make_project

# Rasa 3.6 SQLTrackerStore.SQLEvent, as SQLAlchemy creates it.
SCHEMA = """CREATE TABLE events (
    id INTEGER NOT NULL PRIMARY KEY, sender_id VARCHAR(255) NOT NULL,
    type_name VARCHAR(255) NOT NULL, timestamp FLOAT, intent_name VARCHAR(255),
    action_name VARCHAR(255), data TEXT)"""


def user_event(
    text: str,
    ranking: list[tuple[str, float]],
    language: str | None,
    fallback: bool = False,
    ts: float = 1764000000.0,
) -> dict[str, Any]:
    intents = [{"name": n, "confidence": c} for n, c in ranking]
    top = {"name": "nlu_fallback", "confidence": 0.45} if fallback else intents[0]
    if fallback:
        intents = [top, *intents]
    parse = {"intent": top, "entities": [], "text": text, "intent_ranking": intents}
    if language:
        parse["language"] = {
            "language": language,
            "confidence": 0.9,
            "method": "x",
            "candidates": [[language, 0.9]],
            "words": 3,
        }
    return {
        "event": "user",
        "timestamp": ts,
        "text": text,
        "parse_data": parse,
        "input_channel": "webchat",
        "message_id": uuid.uuid4().hex,
        "metadata": {},
    }


EVENTS: list[tuple[str, dict[str, Any]]] = [
    (
        "c1",
        user_event(
            "Kam je šel moj paket??", [("order_status", 0.4), ("greet", 0.3)], "sl"
        ),
    ),
    ("c1", {"event": "slot", "timestamp": 1.0, "name": "language", "value": "sl"}),
    ("c1", {"event": "action", "timestamp": 1.0, "name": "utter_greet"}),
    ("c2", user_event("kam je sel moj paket", [("greet", 0.2)], "sl", fallback=True)),
    ("c3", user_event("hello", [("greet", 0.99)], "en")),  # confident: not listed
    ("c3", user_event("/affirm", [("affirm", 1.0)], None)),  # a button: not listed
    ("c4", {"event": "slot", "timestamp": 1.0, "name": "language", "value": "sl"}),
    ("c4", user_event("ok", [("affirm", 0.3)], None)),  # no language of its own
    ("c5", user_event("wat is dit", [("greet", 0.5)], None, fallback=True)),
]


def write_sqlite(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute(SCHEMA)
        for sender, event in EVENTS:
            conn.execute(
                "INSERT INTO events (sender_id, type_name, timestamp, intent_name, "
                "action_name, data) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    sender,
                    event["event"],
                    event["timestamp"],
                    (event.get("parse_data") or {}).get("intent", {}).get("name"),
                    event.get("name"),
                    json.dumps(event),
                ),
            )


@pytest.fixture()
def tracker(tmp_path: Path) -> Path:
    path = tmp_path / "tracker.sqlite3"
    write_sqlite(path)
    return path


def test_fallbacks_and_low_confidence_grouped_by_normalised_text(tracker: Path) -> None:
    groups = review.load_review(str(tracker), 0.6)
    assert [g.to_json() | {"last_seen": None} for g in groups] == [
        {
            "text": "Kam je šel moj paket??",
            "count": 2,
            "language": "sl",
            "intent": "order_status",
            "confidence": 0.3,
            "fallbacks": 1,
            "conversations": 2,
            "last_seen": None,
        },
        {
            "text": "ok",
            "count": 1,
            "language": "sl",
            "intent": "affirm",
            "confidence": 0.3,
            "fallbacks": 0,
            "conversations": 1,
            "last_seen": None,
        },
        {
            "text": "wat is dit",
            "count": 1,
            "language": None,
            "intent": "greet",
            "confidence": 0.5,
            "fallbacks": 1,
            "conversations": 1,
            "last_seen": None,
        },
    ]
    assert [g.text for g in review.load_review(str(tracker), 0.6, language="sl")] == [
        "Kam je šel moj paket??",
        "ok",
    ]
    table = review.format_groups(groups)
    assert table.splitlines()[0].split() == [
        "#",
        "count",
        "lang",
        "best",
        "guess",
        "conf",
        "fallback",
        "text",
    ]
    assert "Kam je šel moj paket??" in table.splitlines()[1]


def _message(text: str, intent: str, confidence: float) -> review.Message:
    return review.Message("c1", 1.0, text, intent, confidence, False, "en")


def test_confident_out_of_scope_messages_are_listed_but_confident_answers_are_not() -> None:
    groups = review.misunderstood(
        [
            _message("blorp fnarg", "out_of_scope", 0.93),
            _message("where is my parcel", "order_status", 0.97),
        ],
        low_confidence=0.6,
    )
    assert [(g.text, g.intent) for g in groups] == [("blorp fnarg", "out_of_scope")]


def test_postgresql_tracker_store(tracker: Path) -> None:
    psycopg = pytest.importorskip("psycopg")
    schema = f"review_{uuid.uuid4().hex[:8]}"
    base = "postgresql://postgres@127.0.0.1:5432/test"
    try:
        admin = psycopg.connect(base, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError:
        pytest.skip("no PostgreSQL on 127.0.0.1:5432")
    with admin:
        admin.execute(f"CREATE SCHEMA {schema}")
        try:
            admin.execute(f"SET search_path TO {schema}")
            admin.execute(
                SCHEMA.replace("INTEGER NOT NULL PRIMARY KEY", "SERIAL PRIMARY KEY")
            )
            with sqlite3.connect(tracker) as src:
                for row in src.execute(
                    "SELECT sender_id, type_name, timestamp, data "
                    "FROM events ORDER BY id"
                ):
                    admin.execute(
                        "INSERT INTO events (sender_id, type_name, timestamp, "
                        "data) VALUES (%s, %s, %s, %s)",
                        row,
                    )
            url = f"{base}?options=-csearch_path%3D{schema}"
            from_pg = [g.to_json() for g in review.load_review(url, 0.6)]
            assert from_pg == [
                g.to_json() for g in review.load_review(str(tracker), 0.6)
            ]
            with pytest.raises(SupportBotError, match="no 'events' table"):
                review.load_review(f"{base}?options=-csearch_path%3Dnowhere", 0.6)
        finally:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


def test_missing_or_foreign_database_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SupportBotError, match="no tracker database"):
        review.load_review(str(tmp_path / "nope.sqlite3"), 0.6)
    other = tmp_path / "other.sqlite3"
    sqlite3.connect(other).execute("CREATE TABLE x (y)").connection.close()
    with pytest.raises(SupportBotError, match="not a Rasa tracker store"):
        review.load_review(str(other), 0.6)


# --- labelling -------------------------------------------------------------------------


@pytest.fixture()
def project(tmp_path: Path) -> Project:
    return make_project(tmp_path / "p")[1]


def test_label_appends_one_line_under_the_intent_and_keeps_the_rest(
    project: Project,
) -> None:
    path = project.nlu_dir / "sl" / "topics.yml"
    before = path.read_text(encoding="utf-8")
    done = review.label(project, "  Kam je šel moj   paket?? ", "order_status", "sl")
    after = path.read_text(encoding="utf-8")
    assert done.file == path and not done.created_block
    assert after.split("\n")[done.line - 1] == "    - Kam je šel moj paket??"
    # exactly one line added, comments and other intents untouched
    assert after.replace("    - Kam je šel moj paket??\n", "", 1) == before
    data = yaml.safe_load(after)
    [block] = [b for b in data["nlu"] if b["intent"] == "order_status"]
    assert block["examples"].splitlines()[-1] == "- Kam je šel moj paket??"
    assert validate(project, rasa=False, say=lambda line: None).errors == []


def test_label_refuses_unknown_intents_duplicates_and_markup(project: Project) -> None:
    path = project.nlu_dir / "en" / "topics.yml"
    before = path.read_text(encoding="utf-8")
    with pytest.raises(SupportBotError, match="unknown intent 'track_order'"):
        review.label(project, "where is it", "track_order", "en")
    with pytest.raises(
        SupportBotError, match=r"already an example of 'greet' at .*topics\.yml:7"
    ):
        review.label(project, "Hello!", "order_status", "en")
    with pytest.raises(SupportBotError, match="already an example of 'greet'"):
        review.label(project, "HELLO", "greet", "en")
    with pytest.raises(SupportBotError, match="entity annotation"):
        review.label(project, "my [order](id) is late", "order_status", "en")
    with pytest.raises(SupportBotError, match="language 'de' is not supported"):
        review.label(project, "wo ist mein Paket", "order_status", "de")
    assert path.read_text(encoding="utf-8") == before


def test_label_creates_the_intent_block_in_the_sibling_topic_file(
    project: Project,
) -> None:
    path = project.nlu_dir / "sl" / "topics.yml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text[: text.index("- intent: reset_password")], encoding="utf-8")
    done = review.label(project, "geslo ne dela", "reset_password", "sl")
    assert done.created_block and done.file == path
    nlu = load_nlu(project.nlu_dir)
    assert [
        e.text
        for e in nlu.examples
        if e.language == "sl" and e.intent == "reset_password"
    ] == ["geslo ne dela"]


def test_interactive_labelling_takes_answers_from_stdin(
    project: Project,
    tracker: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import argparse

    settings_file = project.root.parent / "p" / "supportbot.yml"
    monkeypatch.setattr("sys.stdin", io.StringIO("no_such_intent\norder_status\n\nq\n"))
    args = argparse.Namespace(
        config=str(settings_file),
        text=None,
        intent=None,
        label_language=None,
        file=None,
        tracker=str(tracker),
        label_tracker=None,
        language=None,
        limit=10,
    )
    assert cmd_label(args) == 0
    out = capsys.readouterr().out
    assert "not added: unknown intent 'no_such_intent'" in out
    assert "1 example(s) added" in out
    sl = (project.nlu_dir / "sl" / "topics.yml").read_text(encoding="utf-8")
    assert "    - Kam je šel moj paket??\n" in sl

"""The one guard every channel applies: typed text is text, only offered buttons are intents.

Pure functions over Rasa's real event classes; the routes that use them are tested in
test_webchat.py (web chat) and below for the durable channels' ``screen_item``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from connectors.durable import screen_item
from connectors.guard import (
    SLASHES_ONLY,
    TYPED_TEXT_KEY,
    UNSUPPORTED_CONTENT,
    Screened,
    neutral_text,
    offered_payloads,
    screen,
    screened_metadata,
)
from tests.conftest import ROOT

pytestmark = pytest.mark.rasa_env

CSAT_BUTTONS = [
    {"title": "5", "payload": '/csat_score{"score": 5}'},
    {"title": "1", "payload": '/csat_score{"score": 1}'},
]


@pytest.mark.parametrize(
    ("typed", "neutral"),
    [
        ('/csat_score{"score":5}', 'csat_score{"score":5}'),
        ("/EXTERNAL_ask_csat", "EXTERNAL_ask_csat"),
        ("/restart", "restart"),
        ("  /session_start ", "session_start"),
        ("/ /restart", "restart"),  # Rasa strips, then would see "/restart" again
        ("//affirm", "affirm"),
        ("/", SLASHES_ONLY),
        (" / // ", SLASHES_ONLY),
    ],
)
def test_typed_intent_syntax_becomes_words_nlu_reads(typed: str, neutral: str) -> None:
    assert neutral_text(typed) == neutral
    assert screen(typed, frozenset()) == Screened(neutral, typed)


@pytest.mark.parametrize("text", ["kje je moj paket?", "a/b", "50/50 chance", " hi /x"])
def test_ordinary_text_passes_untouched(text: str) -> None:
    assert screen(text, frozenset()) == Screened(text, None)


def test_a_payload_the_bot_offered_stays_an_intent() -> None:
    offered = offered_payloads([BotUttered("How happy?", data={"buttons": CSAT_BUTTONS})])
    assert screen('/csat_score{"score": 5}', offered) == Screened(
        '/csat_score{"score": 5}', None
    )


def test_a_payload_the_bot_did_not_offer_is_plain_text() -> None:
    offered = offered_payloads([BotUttered("Shall I connect you?", data={"buttons": [
        {"title": "Yes", "payload": "/affirm"}]})])
    assert screen('/csat_score{"score": 5}', offered).typed is not None
    assert screen("/affirm", offered) == Screened("/affirm", None)


def test_a_payload_re_encoded_by_the_platform_still_counts() -> None:
    """Telegram's callback data carries the payload's JSON without spaces."""
    offered = offered_payloads([BotUttered("How happy?", data={"buttons": CSAT_BUTTONS})])
    assert screen('/csat_score{"score":5}', offered).typed is None
    assert screen('/csat_score{"score":4}', offered).typed is not None


def test_only_the_latest_buttons_count() -> None:
    events = [
        BotUttered("How happy?", data={"buttons": CSAT_BUTTONS}),
        UserUttered('/csat_score{"score": 1}'),
        BotUttered("Thanks!"),  # no buttons: the CSAT buttons stay the latest offered
        BotUttered("Anything else?", data={"buttons": [{"title": "No", "payload": "/deny"}]}),
    ]
    assert offered_payloads(events) == frozenset({"/deny"})
    assert offered_payloads([]) == frozenset()


def test_greet_is_always_allowed_because_telegrams_start_is_it() -> None:
    assert screen("/greet", frozenset()) == Screened("/greet", None)


def test_an_attachment_stays_unsupported_content_so_it_is_answered_politely() -> None:
    # Telegram and WhatsApp turn a photo without caption into this payload themselves.
    assert screen(UNSUPPORTED_CONTENT, frozenset()) == Screened(UNSUPPORTED_CONTENT, None)


def test_the_customers_own_text_is_kept_for_the_transcript() -> None:
    meta = screened_metadata({"channel": "webchat"}, Screened("restart", "/restart"))
    assert meta == {"channel": "webchat", TYPED_TEXT_KEY: "/restart"}
    # A client cannot plant it: only the guard sets the key.
    assert screened_metadata({TYPED_TEXT_KEY: "forged"}, Screened("hi", None)) == {}


# ------------------------------------------------------- durable channels (Telegram/WA)


@pytest.fixture
def store(tmp_path: Path) -> SQLTrackerStore:
    domain = Domain.load(str(ROOT / "domain.yml"))
    return SQLTrackerStore(domain, dialect="sqlite", db=str(tmp_path / "t.sqlite3"))


def item(text: str) -> dict[str, object]:
    return {
        "sender": "telegram:42",
        "text": text,
        "message_id": "7",
        "metadata": {"channel": "telegram", "content_type": "button"},
    }


async def test_forged_telegram_callback_data_is_plain_text(store: SQLTrackerStore) -> None:
    tracker = DialogueStateTracker("telegram:42", [])
    tracker.update(BotUttered("Shall I connect you?", data={"buttons": [
        {"title": "Yes", "payload": "/affirm"}]}))
    await store.save(tracker)
    forged = await screen_item(item('/csat_score{"score":5}'), store)
    assert forged["text"] == 'csat_score{"score":5}'
    assert forged["metadata"][TYPED_TEXT_KEY] == '/csat_score{"score":5}'
    offered = await screen_item(item("/affirm"), store)
    assert offered == item("/affirm")


async def test_a_button_in_a_conversation_without_buttons_is_plain_text(
    store: SQLTrackerStore,
) -> None:
    assert (await screen_item(item("/restart"), store))["text"] == "restart"

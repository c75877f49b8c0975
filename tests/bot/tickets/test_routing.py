from __future__ import annotations

import pytest

from bot.tickets import routing
from bot.tickets.routing import (
    REASONS,
    TOPIC_INTENTS,
    Routing,
    queue_language,
    route,
    topic_for,
    urgency_words_in,
)

TOPIC_CASES = [
    (["double_charge"], "billing"),
    (["payment_methods"], "billing"),
    (["invoice_request"], "billing"),
    (["discount_code"], "billing"),
    (["cancel_subscription"], "subscription"),
    (["change_plan"], "subscription"),
    (["order_status"], "orders"),
    (["shipping_time"], "orders"),
    (["change_address"], "orders"),
    (["return_refund"], "orders"),
    (["damaged_item"], "orders"),
    (["reset_password"], "account"),
    (["delete_account"], "account"),
    (["greet", "request_human"], "general"),
    (["complaint"], "general"),
    ([], "general"),
    # The most recent topical intent wins; small talk after it does not matter.
    (["order_status", "double_charge", "affirm", "request_human"], "billing"),
    (["double_charge", "order_status", "not_helpful"], "orders"),
]


@pytest.mark.parametrize(("intents", "topic"), TOPIC_CASES)
def test_topic(intents: list[str], topic: str) -> None:
    assert topic_for(intents) == topic


def test_every_topic_intent_is_in_the_domain() -> None:
    from pathlib import Path

    import yaml

    domain = yaml.safe_load(
        (Path(__file__).resolve().parents[3] / "domain.yml").read_text("utf-8")
    )
    intents = set(domain["intents"])
    for topic_intents in TOPIC_INTENTS.values():
        assert set(topic_intents) <= intents


QUEUE_LANG_CASES = [
    ("sl", "sl"), ("ar", "ar"), ("en", "en"), ("sl-SI", "sl"), ("AR", "ar"),
    ("en_GB", "en"), ("hr", "en"), ("hbs", "en"), ("de", "en"), ("", "en"),
    (None, "en"),
]


@pytest.mark.parametrize(("language", "expected"), QUEUE_LANG_CASES)
def test_queue_language(language: str | None, expected: str) -> None:
    assert queue_language(language) == expected


def test_agent_languages_are_a_parameter() -> None:
    assert queue_language("hr", ["en", "hr"]) == "hr"
    assert queue_language("ar", ["en", "sl"]) == "en"
    assert queue_language("ar", ["sl"]) == "sl"  # no English agents: the first listed
    got = route(["order_status"], "hr", routing.ASKED_FOR_HUMAN, [],
                supported_queue_languages=["en", "hr"])
    assert got.queue == "orders-hr"


URGENT_TEXTS = [
    ("en", "This is URGENT, please"),
    ("en", "I need it asap!"),
    ("en", "Refund me immediately"),
    ("en", "This looks like fraud"),
    ("en", "fraudulent charge on my card"),
    ("en", "My lawyer will hear about this"),
    ("ar", "الأمر عاجل"),
    ("ar", "أريد المال فوراً"),
    ("ar", "اريد المال فورا"),
    ("ar", "هذا احتيال"),
    ("ar", "هذا الاحتيال واضح"),
    ("ar", "بشكل عاجل من فضلكم"),
    ("sl", "Nujno potrebujem pomoč"),
    ("sl", "Prosim, takoj!"),
    ("sl", "To je prevara"),
    ("sl", "Gre za prevaro"),
    ("sl", "Poklical bom odvetnika"),
    ("sl", "NUJNO!!!"),
]


@pytest.mark.parametrize(("language", "text"), URGENT_TEXTS)
def test_urgency_words_in_every_language(language: str, text: str) -> None:
    assert urgency_words_in([text]), text
    # Checked in every message whatever the conversation's language.
    got = route(["order_status"], "en", routing.ASKED_FOR_HUMAN, ["hello", text])
    assert got.priority == "high"


CALM_TEXTS = [
    "Where is my parcel?",
    "Kje je moj paket?",
    "أين طلبي؟",
    "I have an urge to ask about fractions",  # no prefix of the entries
    "Takšen je moj naslov",  # "takšen" is not "takoj"
    "",
]


@pytest.mark.parametrize("text", CALM_TEXTS)
def test_calm_texts_are_normal(text: str) -> None:
    assert urgency_words_in([text]) == ()
    assert route(["order_status"], "sl", routing.ASKED_FOR_HUMAN, [text]).priority == (
        "normal"
    )


@pytest.mark.parametrize(
    ("intents", "reason", "priority"),
    [
        (["double_charge"], routing.ASKED_FOR_HUMAN, "high"),
        (["delete_account", "affirm"], routing.KB_NOT_HELPFUL, "high"),
        (["complaint"], routing.ASKED_FOR_HUMAN, "high"),
        (["order_status"], routing.COMPLAINT, "high"),
        (["order_status"], routing.REPEATED_FALLBACK, "normal"),
        (["payment_methods"], routing.AFTER_HOURS_REQUEST, "normal"),
    ],
)
def test_priority_from_intents_and_reason(
    intents: list[str], reason: str, priority: str
) -> None:
    assert route(intents, "en", reason, ["hello"]).priority == priority


def test_route_example() -> None:
    got = route(
        ["greet", "double_charge", "not_helpful", "affirm", "double_charge"],
        "sl",
        routing.KB_NOT_HELPFUL,
        ["Pozdravljeni", "Dvakrat ste mi zaračunali", "To mi ni pomagalo", "Da"],
    )
    assert got == Routing(queue="billing-sl", priority="high", tags=("double_charge",))


def test_tags_are_distinct_case_intents_in_order() -> None:
    got = route(
        ["greet", "order_status", "nlu_fallback", "damaged_item", "order_status",
         "complaint", "thanks", "request_human"],
        "ar", routing.COMPLAINT, [],
    )
    assert got.tags == ("order_status", "damaged_item", "complaint")
    assert got.queue == "orders-ar"


def test_reason_constants() -> None:
    assert REASONS == (
        "asked_for_human", "repeated_fallback", "complaint", "kb_not_helpful",
        "after_hours_request",
    )

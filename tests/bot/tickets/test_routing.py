"""Routing: queue, priority, tags and hours from the ``routing:`` rules."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from bot.errors import ConfigError
from bot.hours import BusinessHours
from bot.settings import Section, load_settings
from bot.tickets import routing
from bot.tickets.routing import (
    REASONS,
    TOPIC_INTENTS,
    Queue,
    Routing,
    RoutingRules,
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
    rules = RoutingRules(queues=(Queue("orders", ("order_status",), ("en", "hr")),
                                 Queue("general")))
    got = route(["order_status"], "hr", routing.ASKED_FOR_HUMAN, [], rules=rules)
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


# ---------------------------------------------------------------- rules from YAML

FILE = Path("/etc/supportbot/supportbot.yml")
ROOT = Path(__file__).resolve().parents[3]

RULES_YAML = """
queues:
  billing:
    intents: [double_charge, payment_methods]
    languages: [en, sl]
  vip:
    intents: [delete_account]
    languages: [en]
    hours:
      timezone: Asia/Dubai
      weekly: {mon: ["00:00-24:00"], tue: ["00:00-24:00"], wed: ["00:00-24:00"],
               thu: ["00:00-24:00"], fri: closed, sat: closed, sun: ["00:00-24:00"]}
  general:
    languages: [en, ar, sl]
default_queue: general
fallback_language: en
priority:
  high_intents: [double_charge]
  high_reasons: [complaint, kb_not_helpful]
  urgency_words: {en: [urgen], de: [dringend]}
  repeat_contact_days: 3
tags:
  ignore_intents: [greet, affirm]
  kb_articles: true
"""


def rules_section(text: str = RULES_YAML, **changes: Any) -> Section:
    data = yaml.safe_load(text)
    data.update(changes)
    return Section(name="routing", data=data, file=FILE, base_dir=FILE.parent)


def rules_from(text: str = RULES_YAML, **changes: Any) -> RoutingRules:
    return RoutingRules.from_section(rules_section(text, **changes))


def test_rules_from_yaml_route_by_their_queues_and_words() -> None:
    rules = rules_from()
    assert [q.name for q in rules.queues] == ["billing", "vip", "general"]
    assert route(["payment_methods"], "sl", "asked_for_human", ["hi"],
                 rules=rules) == Routing("billing-sl", "normal", ("payment_methods",))
    # Arabic is not spoken in billing: the fallback language's queue.
    assert route(["payment_methods"], "ar", "asked_for_human", [],
                 rules=rules).queue == "billing-en"
    # Unknown to every queue: the default queue.
    assert route(["order_status"], "ar", "asked_for_human", [],
                 rules=rules).queue == "general-ar"
    # Configured reasons, intents and words (a German word counts too).
    assert route([], "en", "kb_not_helpful", [], rules=rules).priority == "high"
    assert route(["delete_account"], "en", "asked_for_human", [],
                 rules=rules).priority == "normal"
    assert route([], "en", "asked_for_human", ["Das ist DRINGEND"],
                 rules=rules).priority == "high"
    assert route([], "en", "asked_for_human", ["nujno"], rules=rules).priority == (
        "normal"
    )


def test_kb_articles_seen_become_tags() -> None:
    got = route(["greet", "return_refund", "not_helpful"], "en", "kb_not_helpful",
                [], rules=rules_from(), kb_articles=["refunds", "refunds", "returns"])
    assert got.tags == ("return_refund", "not_helpful", "kb:refunds", "kb:returns")
    off = rules_from(tags={"kb_articles": False})
    assert route([], "en", "complaint", [], rules=off, kb_articles=["x"]).tags == ()


@pytest.mark.parametrize(
    ("base_intents", "reason", "previous", "priority"),
    [
        (["order_status"], "asked_for_human", 0, "normal"),
        (["order_status"], "asked_for_human", 1, "high"),
        (["double_charge"], "asked_for_human", 2, "urgent"),
        (["double_charge"], "complaint", 1, "urgent"),  # urgent is the top
    ],
)
def test_a_repeat_contact_raises_the_priority_one_level(
    base_intents: list[str], reason: str, previous: int, priority: str
) -> None:
    rules = rules_from()
    got = route(base_intents, "en", reason, [], rules=rules, previous_tickets=previous)
    assert got.priority == priority
    assert ("repeat_contact" in got.tags) == (previous > 0)
    assert rules.repeat_window == timedelta(days=3)


def test_repeat_contact_rule_can_be_off() -> None:
    rules = rules_from(priority={"repeat_contact_days": 0})
    assert rules.repeat_window is None
    got = route(["order_status"], "en", "asked_for_human", [], rules=rules,
                previous_tickets=4)
    assert got.priority == "normal" and "repeat_contact" not in got.tags


def test_a_queue_with_its_own_hours_and_one_without() -> None:
    rules = rules_from()
    default = BusinessHours.from_section(
        load_settings(ROOT / "supportbot.yml").section("business_hours")
    )
    vip = rules.hours_for("vip-en", default)
    assert vip is not default and vip.timezone == ZoneInfo("Asia/Dubai")
    friday_noon_dubai = datetime(2026, 11, 27, 12, 0, tzinfo=ZoneInfo("Asia/Dubai"))
    assert not vip.is_open(friday_noon_dubai)
    assert default.is_open(friday_noon_dubai)  # 09:00 in Ljubljana, open
    assert rules.hours_for("billing-sl", default) is default
    assert rules.hours_for("no-such-queue", default) is default


def test_without_a_routing_section_the_defaults_apply(tmp_path: Path) -> None:
    file = tmp_path / "s.yml"
    file.write_text("tickets: {database: t.db}\n")
    rules = RoutingRules.from_settings(load_settings(file))
    assert rules == routing.DEFAULT_RULES
    assert topic_for(["double_charge"], rules) == "billing"


def test_the_shipped_settings_match_the_defaults() -> None:
    """supportbot.yml spells out the defaults, so editors see and change real data."""
    rules = RoutingRules.from_settings(load_settings(ROOT / "supportbot.yml"))
    assert [(q.name, q.intents, q.languages) for q in rules.queues] == [
        (q.name, q.intents, q.languages) for q in routing.DEFAULT_RULES.queues
    ]
    assert rules.high_intents == routing.DEFAULT_RULES.high_intents
    assert dict(rules.urgency_words) == dict(routing.URGENCY_WORDS)


CONFIG_ERRORS: list[tuple[dict[str, Any], str, str]] = [
    ({"colour": "red"}, "routing.colour", "not a routing setting"),
    ({"queues": []}, "routing.queues", "mapping"),
    ({"queues": {}}, "routing.queues", "no queue"),
    ({"queues": {"Billing-EN": {}}}, "routing.queues.Billing-EN", "queue name"),
    ({"queues": {"a": {"intents": ["x"]}, "b": {"intents": ["x"]}},
      "default_queue": "a"}, "routing.queues.b.intents[0]", "already in queue"),
    ({"queues": {"a": {"languages": []}}, "default_queue": "a"},
     "routing.queues.a.languages", "empty"),
    ({"queues": {"a": {"languages": ["english"]}}, "default_queue": "a"},
     "routing.queues.a.languages[0]", "language code"),
    ({"queues": {"a": {"lanugages": ["en"]}}, "default_queue": "a"},
     "routing.queues.a.lanugages", "not a routing setting"),
    ({"default_queue": "nowhere"}, "routing.default_queue", "not one of"),
    ({"priority": {"high_reasons": ["angry"]}}, "routing.priority.high_reasons[0]",
     "no escalation reason"),
    ({"priority": {"repeat_contact_days": -1}},
     "routing.priority.repeat_contact_days", "whole number"),
    ({"priority": {"urgency_words": {"en": "urgent"}}},
     "routing.priority.urgency_words.en", "list"),
    ({"tags": {"kb_articles": "yes"}}, "routing.tags.kb_articles", "true or false"),
    ({"queues": {"a": {"hours": {"timezone": "Mars/Olympus", "weekly": {}}}},
      "default_queue": "a"}, "routing.queues.a.hours.timezone", "unknown timezone"),
    ({"queues": {"a": {"hours": {"timezone": "UTC", "weekly": {"mon": "9-5"}}}},
      "default_queue": "a"}, "routing.queues.a.hours.weekly.mon", "not a range"),
]


@pytest.mark.parametrize(("data", "key", "words"), CONFIG_ERRORS)
def test_config_errors_name_file_key_and_fix(
    data: dict[str, Any], key: str, words: str
) -> None:
    section = Section(name="routing", data=data, file=FILE, base_dir=FILE.parent)
    with pytest.raises(ConfigError) as info:
        RoutingRules.from_section(section)
    assert info.value.key == key
    assert words in info.value.problem
    assert str(FILE) in str(info.value) and info.value.fix

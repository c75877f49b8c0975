"""End to end: the real Rasa server and action server on 127.0.0.1, the trained model, REST.

The bot is started exactly as ``make run`` starts it (bot.run.Bot), with its own ports,
tracker database and ticket database, and the clock pinned so that business hours are
deterministic: Wednesday 2026-11-25 10:00 in Ljubljana (open), later Sunday (closed).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest

from bot.hours import BusinessHours, format_opening
from bot.run import Bot
from bot.settings import load_settings
from bot.tickets.store import SQLiteTicketStore
from tests.e2e.conftest import CLOSED_NOW, OPEN_NOW, TICKET_REF, say, texts


@pytest.mark.parametrize(
    ("lang", "greeting"),
    [("en", "hello there"), ("ar", "مرحبا"), ("sl", "Dober dan")],
)
def test_greeting_is_answered_in_the_customers_language(
    bot: Bot, domain_texts: dict[str, dict[str, str]], lang: str, greeting: str
) -> None:
    replies = say(bot, f"greet-{lang}", greeting)
    assert texts(replies) == [domain_texts["utter_greet"][lang]]


@pytest.mark.parametrize(
    ("lang", "question", "intent"),
    [
        ("en", "How long does delivery take to Germany?", "shipping_time"),
        ("ar", "كم يوم يستغرق توصيل الطلب؟", "shipping_time"),
        ("sl", "Kako dolgo traja dostava paketa?", "shipping_time"),
        ("en", "I forgot my password and can't log in", "reset_password"),
        ("ar", "نسيت كلمة المرور ولا أستطيع الدخول إلى حسابي", "reset_password"),
        ("sl", "Pozabil sem geslo in se ne morem prijaviti", "reset_password"),
    ],
)
def test_faq_is_answered_from_the_knowledge_base_in_the_same_language(
    bot: Bot, articles: dict[str, Any], lang: str, question: str, intent: str
) -> None:
    replies = say(bot, f"faq-{lang}-{intent}", question)
    answer = "\n\n".join(texts(replies))  # Rasa splits a reply at blank lines
    matching = [a for a in articles.values() if intent in a.intents]
    assert any(answer.startswith(a.title[lang]) and a.body[lang] in answer for a in matching), (
        f"expected an article for {intent} in {lang}, got {answer!r}"
    )


def test_short_messages_do_not_flip_the_conversation_language(
    bot: Bot, domain_texts: dict[str, dict[str, str]]
) -> None:
    sender = "sticky-sl"
    assert texts(say(bot, sender, "Dober dan")) == [domain_texts["utter_greet"]["sl"]]
    for short in ("ok", "👍"):
        replies = texts(say(bot, sender, short))
        english = {v["en"] for v in domain_texts.values()}
        assert replies and not set(replies) & english, f"{short!r} flipped to English: {replies}"
    assert texts(say(bot, sender, "hvala")) == [domain_texts["utter_you_are_welcome"]["sl"]]


@pytest.mark.parametrize(
    ("lang", "turns"),
    [
        ("en", ["hi", "my parcel still hasn't arrived", "I want to talk to a human"]),
        ("ar", ["مرحبا", "طلبي لم يصل حتى الآن", "أريد التحدث مع موظف"]),
        ("sl", ["živjo", "moj paket še vedno ni prišel", "želim govoriti z operaterjem"]),
    ],
)
def test_asking_for_a_human_creates_a_ticket_holding_every_turn(
    bot: Bot,
    tickets: SQLiteTicketStore,
    domain_texts: dict[str, dict[str, str]],
    lang: str,
    turns: list[str],
) -> None:
    sender = f"handoff-{lang}"
    replies: list[str] = []
    for turn in turns:
        replies = texts(say(bot, sender, turn))
    match = TICKET_REF.search(replies[-1])
    assert match, f"no ticket number in {replies}"
    expected = domain_texts["utter_ticket_created"][lang].replace("{ticket_ref}", match.group(0))
    assert replies[-1] == expected

    number = int(match.group(0).split("-")[1])
    ticket = tickets.get(number)
    assert ticket is not None
    assert ticket.ref == match.group(0)
    assert ticket.channel == "webchat"
    assert ticket.customer_id == sender
    assert ticket.language == lang
    assert ticket.reason == "asked_for_human"
    assert ticket.after_hours is False
    assert ticket.queue.endswith(f"-{lang}")
    customer = [t for t in ticket.transcript if t.speaker == "customer"]
    assert [t.text for t in customer] == turns
    assert all(t.intent for t in customer)
    assert customer[-1].intent == "request_human"
    assert [t.language for t in customer][-1] == lang
    bot_turns = [t for t in ticket.transcript if t.speaker == "bot"]
    assert len(bot_turns) >= 2  # the greeting and the answer to the question


def test_malformed_and_oversized_requests_get_4xx_and_the_bot_keeps_working(bot: Bot) -> None:
    url = f"{bot.config.rasa_url}/webhooks/webchat/webhook"
    bad_json = httpx.post(url, content=b"{not json", headers={"Content-Type": "application/json"})
    assert bad_json.status_code == 400
    assert "JSON" in bad_json.json()["error"]
    no_sender = httpx.post(url, json={"message": "hi"})
    assert no_sender.status_code == 400
    huge = httpx.post(url, json={"sender": "huge", "message": "a" * 10_000})
    assert huge.status_code == 413
    wrong_type = httpx.post(url, content=b"sender=x&message=hi",
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert wrong_type.status_code == 415
    assert texts(say(bot, "after-bad-input", "hello"))  # still answering


def test_after_hours_the_bot_names_the_next_opening_and_still_takes_a_ticket(
    bot: Bot, tickets: SQLiteTicketStore, domain_texts: dict[str, dict[str, str]]
) -> None:
    bot.restart_actions({"SUPPORTBOT_FAKE_NOW": CLOSED_NOW})
    try:
        now = datetime.fromisoformat(CLOSED_NOW)
        assert bot.config.settings_file is not None
        hours = BusinessHours.from_section(
            load_settings(bot.config.settings_file).section("business_hours")
        )
        opening = hours.status(now).next_opening
        assert opening is not None and opening.weekday() == 0 and opening.hour == 8

        sender = "after-hours-sl"
        say(bot, sender, "Dober dan")
        replies = texts(say(bot, sender, "kdaj ste odprti?"))
        phrase = format_opening(opening, "sl", now)
        assert replies == [domain_texts["utter_hours_closed"]["sl"].format(next_opening=phrase)]

        # Self-service stays on after hours.
        faq = texts(say(bot, sender, "Kako dolgo traja dostava paketa?"))
        assert faq and not TICKET_REF.search(faq[0])

        replies = texts(say(bot, sender, "želim govoriti s človekom"))
        match = TICKET_REF.search(replies[-1])
        assert match, replies
        assert phrase in replies[-1]
        ticket = tickets.get(int(match.group(0).split("-")[1]))
        assert ticket is not None
        assert ticket.after_hours is True
        assert ticket.promised_reply_at == opening
    finally:
        bot.restart_actions({"SUPPORTBOT_FAKE_NOW": OPEN_NOW})

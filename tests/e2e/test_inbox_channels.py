"""End to end: an agent takes over a Telegram and a WhatsApp conversation in the inbox.

The real bot (Rasa, action server, inbox, as ``make run`` starts them) with Telegram and
WhatsApp pointed at stand-in platform APIs (tests/connectors/standins.py). The agent
works through the inbox's own pages and so through its own Rasa client: the ids
``telegram:<chat>`` and ``whatsapp:<number>`` must reach the customer's conversation
(a percent-encoded ``whatsapp%3A…`` reached a phantom one and still said "Sent.").
For each channel: the customer asks for a person and gets a ticket; assign pauses the
bot; the reply is delivered by the platform API; the customer's next message reaches
the ticket and the bot stays silent; resolve gives the conversation back and the CSAT
question is delivered; the customer's rating is stored.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from bot.inbox.auth import hash_password
from bot.run import Bot
from bot.tickets.model import Ticket, parse_ref
from bot.tickets.store import SQLiteTicketStore
from tests.conftest import write_settings
from tests.connectors.standins import GraphAPI, TelegramBotAPI
from tests.connectors.standins import whatsapp_notification as wa_notification
from tests.e2e.conftest import TICKET_REF, tracker
from tests.e2e.test_channels import (
    Channels,
    start_channel_bot,
    tg_message,
    wa_text,
    wa_texts,
)

PASSWORD = "maja-je-agentka-42"
ASK_FOR_A_PERSON = ["Živjo", "Moj paket še vedno ni prišel", "želim govoriti z operaterjem"]


@pytest.fixture(scope="module")
def channels(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Channels]:
    tmp = tmp_path_factory.mktemp("inbox_channels")
    settings = write_settings(
        tmp,
        inbox={
            "poll_seconds": 1,
            "agents": [
                {
                    "name": "maja",
                    "password_hash": hash_password(PASSWORD),
                    "languages": ["sl", "en"],
                    "queues": ["*"],
                }
            ],
        },
    )
    with TelegramBotAPI() as telegram, GraphAPI() as graph:
        bot = start_channel_bot(tmp, telegram, graph, settings=settings)
        with bot:
            db = yaml.safe_load(settings.read_text())["tickets"]["database"]
            store = SQLiteTicketStore(Path(db))
            try:
                yield Channels(bot, telegram, graph, store)
            finally:
                store.close()


class Agent:
    """The agent's browser, as plain HTTP: login form, CSRF tokens, the ticket's forms."""

    def __init__(self, bot: Bot) -> None:
        self.http = httpx.Client(base_url=bot.config.inbox_url, timeout=60)
        page = self.http.get("/login")
        resp = self.http.post(
            "/login",
            data={"name": "maja", "password": PASSWORD, "csrf": _csrf(page.text)},
        )
        assert resp.status_code == 303, resp.text

    def act(self, ref: str, action: str, **form: str) -> str:
        """POST one of the ticket's forms; returns the banner the next page shows."""
        page = self.http.get(f"/tickets/{ref}")
        assert page.status_code == 200, page.text
        resp = self.http.post(
            f"/tickets/{ref}/{action}", data={"csrf": _csrf(page.text), **form}
        )
        assert resp.status_code == 303, resp.text
        shown = self.http.get(resp.headers["location"]).text
        banner = re.search(r'<p class="message" role="status">([^<]*)</p>', shown)
        return banner.group(1) if banner else ""

    def close(self) -> None:
        self.http.close()


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def wait(check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
    return result


def customer_turns(store: SQLiteTicketStore, number: int) -> list[str]:
    ticket = store.get(number)
    assert ticket is not None
    return [t.text for t in ticket.transcript if t.speaker == "customer"]


def hand_over_and_back(
    channels: Channels,
    sender: str,
    say: Callable[[str], None],
    received: Callable[[], list[str]],
    sl: dict[str, dict[str, str]],
) -> Ticket:
    """The whole handoff for one customer; returns the rated ticket."""
    for text in ASK_FOR_A_PERSON:
        before = len(received())
        say(text)
        wait(lambda b=before: len(received()) > b, f"the bot's answer to {text!r}")
    ref = wait(
        lambda: next((m.group(0) for t in received() if (m := TICKET_REF.search(t))), None),
        "a ticket number",
    )
    number = parse_ref(ref)
    agent = Agent(channels.bot)
    try:
        assert "paused" in agent.act(ref, "assign")
        assert tracker(channels.bot, sender)["paused"] is True

        reply = "Pozdravljeni, tukaj Maja. Paket preverjam pri kurirju."
        assert agent.act(ref, "reply", text=reply) == "Sent."
        wait(lambda: reply in received(), "the agent's reply at the platform API")

        before = len(received())
        say("Hvala, počakam.")
        wait(
            lambda: "Hvala, počakam." in customer_turns(channels.tickets, number),
            "the customer's message in the ticket",
        )
        assert len(received()) == before  # the bot stayed silent

        assert agent.act(ref, "resolve").startswith("Resolved")
        question = sl["utter_ask_csat"]["sl"].replace("{ticket_ref}", ref)
        wait(lambda: question in received(), "the CSAT question at the platform API")
        say("5")
        wait(lambda: sl["utter_csat_thanks"]["sl"] in received(), "the thanks")
    finally:
        agent.close()
    rated = channels.tickets.get(number)
    assert rated is not None
    return rated


def test_an_agent_takes_over_a_telegram_conversation_and_hands_it_back(
    channels: Channels, domain_texts: dict[str, dict[str, str]]
) -> None:
    chat = 7101
    update = iter(range(710_100, 710_200))

    def say(text: str) -> None:
        resp = channels.telegram_post(tg_message(next(update), chat, text, "sl"))
        assert resp.status_code == 200, resp.text

    ticket = hand_over_and_back(
        channels,
        f"telegram:{chat}",
        say,
        lambda: channels.telegram.sent_texts(chat),
        domain_texts,
    )
    assert ticket.channel == "telegram" and ticket.conversation_id == f"telegram:{chat}"
    assert ticket.csat == 5 and ticket.status == "resolved"
    kinds = [e.kind for e in channels.tickets.events(ticket.number)]
    for kind in ("assigned", "agent_reply", "customer_message", "resolved", "csat"):
        assert kind in kinds, kinds


def test_an_agent_takes_over_a_whatsapp_conversation_and_hands_it_back(
    channels: Channels, domain_texts: dict[str, dict[str, str]]
) -> None:
    wa_id = "38640007101"
    wamid = iter(f"wamid.HANDOFF{i}" for i in range(100))

    def say(text: str) -> None:
        resp = channels.whatsapp_post(wa_notification(wa_text(wa_id, next(wamid), text)))
        assert resp.status_code == 200, resp.text

    ticket = hand_over_and_back(
        channels,
        f"whatsapp:{wa_id}",
        say,
        lambda: wa_texts(channels.graph, wa_id),
        domain_texts,
    )
    assert ticket.channel == "whatsapp" and ticket.conversation_id == f"whatsapp:{wa_id}"
    assert ticket.csat == 5 and ticket.status == "resolved"

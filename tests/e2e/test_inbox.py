"""End to end: a Slovenian customer escalates over the web chat, an agent takes over in
the inbox (headless Chromium), the reply reaches the customer through the channel, the
bot stays silent while the agent holds the conversation, and resolve brings the bot back
with a CSAT question whose answer is stored on the ticket.

One bot (Rasa + action server + inbox, as ``make run`` starts them) for the module.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from playwright.sync_api import Page, expect

from bot.inbox.auth import hash_password
from bot.run import Bot
from bot.tickets.model import parse_ref
from bot.tickets.store import SQLiteTicketStore
from tests.conftest import write_settings
from tests.e2e.conftest import (
    TICKET_REF,
    chromium,
    say,
    skip_without_chromium,
    start_bot,
    texts,
)

PASSWORD = "maja-je-agentka-42"

skip_without_chromium()


@pytest.fixture(scope="module")
def inbox_bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bot]:
    tmp = tmp_path_factory.mktemp("inbox")
    settings = write_settings(
        tmp,
        inbox={
            "poll_seconds": 1,
            "agents": [
                {
                    "name": "maja",
                    "display_name": "Maja",
                    "password_hash": hash_password(PASSWORD),
                    "languages": ["sl", "en"],
                    "queues": ["*-sl"],
                }
            ],
        },
    )
    with start_bot(tmp, settings=settings) as running:
        yield running


@pytest.fixture(scope="module")
def store(inbox_bot: Bot) -> Iterator[SQLiteTicketStore]:
    assert inbox_bot.config.settings_file is not None
    db = yaml.safe_load(inbox_bot.config.settings_file.read_text())["tickets"][
        "database"
    ]
    opened = SQLiteTicketStore(Path(db))
    yield opened
    opened.close()


@pytest.fixture()
def page() -> Iterator[Page]:
    with chromium() as browser:
        yield browser.new_page()


def history(bot: Bot, sender: str, since: float) -> list[dict[str, Any]]:
    """What the customer's web chat shows after ``since`` (the page polls the same)."""
    resp = httpx.get(
        f"{bot.config.rasa_url}/webhooks/webchat/history",
        params={"sender": sender, "since": str(since)},
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    return list(resp.json()["messages"])


def wait_for_bot_message(
    bot: Bot, sender: str, since: float, timeout: float = 20
) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        bot_messages = [
            m["text"] for m in history(bot, sender, since) if m["from"] == "bot"
        ]
        if bot_messages:
            return "\n".join(bot_messages)
        time.sleep(0.5)
    raise AssertionError(f"no bot message for {sender} after {since}")


def test_an_agent_takes_over_a_slovenian_conversation_and_hands_it_back(
    inbox_bot: Bot,
    store: SQLiteTicketStore,
    page: Page,
    domain_texts: dict[str, dict[str, str]],
) -> None:
    bot, sl = inbox_bot, domain_texts
    sender = f"web-{secrets.token_hex(16)}"  # the page's token-length id
    customer = [
        "Živjo",
        "Moj paket še vedno ni prišel <script>x</script>",
        "želim govoriti z operaterjem",
    ]
    replies = [texts(say(bot, sender, text, locale="sl-SI")) for text in customer]
    ack = "\n".join(replies[-1])
    ref = TICKET_REF.search(ack)
    assert ref, f"no ticket number in {replies[-1]}"
    number = parse_ref(ref.group(0))

    # The agent logs in; the inbox sends them there from any page.
    inbox = bot.config.inbox_url
    page.goto(f"{inbox}/tickets")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.fill("input[name=name]", "maja")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator(f"tr[data-ref='{ref.group(0)}']")).to_be_visible()

    # The ticket holds the whole conversation; customer text stays text.
    page.click(f"a[href='/tickets/{ref.group(0)}']")
    transcript = page.locator("#transcript")
    for text in customer:
        expect(transcript).to_contain_text(text)
    expect(transcript).to_contain_text("request_human")  # intent shown
    assert page.locator("#transcript script").count() == 0

    # Assign: the bot is paused in this conversation.
    page.click("#assign")
    expect(page.locator("#status")).to_have_text("open")
    expect(page.locator("#assignee")).to_have_text("maja")

    # Reply: it reaches the customer's web chat and the transcript.
    before_reply = time.time()
    reply = "Pozdravljeni, tukaj Maja. Vaš paket preverjam pri kurirju."
    page.fill("#reply-text", reply)
    page.click("#send")
    expect(page.locator("#transcript .turn.agent")).to_contain_text(reply)
    assert reply in wait_for_bot_message(bot, sender, before_reply)

    # While the agent holds it, the bot says nothing; the message reaches the ticket
    # and appears on the open page without a reload.
    assert say(bot, sender, "Hvala, počakam. Kdaj bo paket tu?") == []
    expect(transcript).to_contain_text("Kdaj bo paket tu?", timeout=15_000)
    stored = store.get(number)
    assert stored is not None
    assert "Hvala, počakam. Kdaj bo paket tu?" in [t.text for t in stored.transcript]

    # Resolve: the bot is back and asks for a rating in Slovenian.
    before_resolve = time.time()
    page.click("#resolve")
    expect(page.locator("#status")).to_have_text("resolved")
    question = wait_for_bot_message(bot, sender, before_resolve)
    assert question == sl["utter_ask_csat"]["sl"].replace("{ticket_ref}", ref.group(0))
    assert not any(m["text"].startswith("EXTERNAL") for m in history(bot, sender, 0))

    # The customer's "5" is stored on the ticket and thanked for.
    assert texts(say(bot, sender, "5")) == [sl["utter_csat_thanks"]["sl"]]
    rated = store.get(number)
    assert rated is not None and rated.csat == 5 and rated.status == "resolved"
    kinds = [e.kind for e in store.events(number)]
    for kind in ("assigned", "agent_reply", "customer_message", "resolved", "csat"):
        assert kind in kinds, kinds

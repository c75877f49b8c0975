"""End to end: Telegram and WhatsApp customers talk to the real bot through stand-ins.

One bot for the module, started as ``make run`` starts it, with a credentials.yml whose
channel secrets are ``${VAR}``s filled from the environment (as in production) and
whose platform URLs point at stand-in servers on 127.0.0.1 (tests/connectors/
standins.py): a Telegram Bot API that python-telegram-bot talks to, with long polling
switched on as ``python -m bot run --telegram-polling`` does, and a WhatsApp Graph API.
A webhook POST of a real payload must make the stand-in receive the bot's answer in the
customer's language.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from bot.run import Bot
from bot.tickets.store import SQLiteTicketStore
from tests.connectors.standins import GraphAPI, TelegramBotAPI, graph_error
from tests.connectors.standins import whatsapp_notification as wa_notification
from tests.e2e.conftest import TICKET_REF, kb_answer_matches, start_bot

TG_SECRET = "e2e-telegram-secret_0123"
WA_SECRET = "e2e-app-secret-9f8e7d"
WA_VERIFY = "e2e-verify-token"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

CREDENTIALS = """\
connectors.webchat.WebChatInput:
connectors.telegram.TelegramInput:
  access_token: ${{TELEGRAM_BOT_TOKEN}}
  secret_token: ${{TELEGRAM_WEBHOOK_SECRET}}
  base_url: {telegram_url}
  state_db: {tmp}/telegram.sqlite3
connectors.whatsapp.WhatsAppInput:
  verify_token: ${{WHATSAPP_VERIFY_TOKEN}}
  app_secret: ${{WHATSAPP_APP_SECRET}}
  access_token: ${{WHATSAPP_ACCESS_TOKEN}}
  phone_number_id: ${{WHATSAPP_PHONE_NUMBER_ID}}
  graph_base_url: {graph_url}
  api_version: {version}
  state_db: {tmp}/whatsapp.sqlite3
  retry_backoff_seconds: 0.2
"""


def start_channel_bot(
    tmp: Path, telegram: TelegramBotAPI, graph: GraphAPI, *, settings: Path | None = None
) -> Bot:
    """A bot (not started) whose Telegram and WhatsApp channels talk to the stand-in APIs."""
    credentials = tmp / "credentials.yml"
    credentials.write_text(
        CREDENTIALS.format(
            telegram_url=telegram.base_url, graph_url=graph.url, version=graph.version, tmp=tmp
        ),
        encoding="utf-8",
    )
    return start_bot(
        tmp,
        settings=settings,
        credentials=credentials,
        extra_env={
            "TELEGRAM_BOT_TOKEN": telegram.token,
            "TELEGRAM_WEBHOOK_SECRET": TG_SECRET,
            "WHATSAPP_VERIFY_TOKEN": WA_VERIFY,
            "WHATSAPP_APP_SECRET": WA_SECRET,
            "WHATSAPP_ACCESS_TOKEN": graph.access_token,
            "WHATSAPP_PHONE_NUMBER_ID": graph.phone_number_id,
        },
    )


class Channels:
    def __init__(
        self,
        bot: Bot,
        telegram: TelegramBotAPI,
        graph: GraphAPI,
        tickets: SQLiteTicketStore,
    ) -> None:
        self.bot = bot
        self.telegram = telegram
        self.graph = graph
        self.tickets = tickets

    def telegram_post(self, update: dict[str, Any]) -> httpx.Response:
        return httpx.post(
            f"{self.bot.config.rasa_url}/webhooks/telegram/webhook",
            json=update,
            headers={SECRET_HEADER: TG_SECRET},
            timeout=30,
        )

    def whatsapp_post(
        self, body: dict[str, Any], secret: str = WA_SECRET
    ) -> httpx.Response:
        raw = json.dumps(body).encode()
        signature = (
            "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
        )
        return httpx.post(
            f"{self.bot.config.rasa_url}/webhooks/whatsapp/webhook",
            content=raw,
            timeout=30,
            headers={
                "Content-Type": "application/json",
                "X-Hub-Signature-256": signature,
            },
        )


@pytest.fixture(scope="module")
def channels(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Channels]:
    tmp = tmp_path_factory.mktemp("channels")
    with TelegramBotAPI() as telegram, GraphAPI() as graph:
        bot = start_channel_bot(tmp, telegram, graph)
        bot.config.telegram_polling = True
        with bot:
            assert bot.config.settings_file is not None
            db = yaml.safe_load(bot.config.settings_file.read_text())["tickets"][
                "database"
            ]
            store = SQLiteTicketStore(Path(db))
            try:
                yield Channels(bot, telegram, graph, store)
            finally:
                store.close()


# ------------------------------------------------------------------ payloads


def tg_message(
    update_id: int, chat: int, text: str | None, language: str, **content: Any
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "message_id": update_id % 100_000,
        "date": int(time.time()),
        "from": {
            "id": chat,
            "is_bot": False,
            "first_name": "Test",
            "language_code": language,
        },
        "chat": {"id": chat, "first_name": "Test", "type": "private"},
        **content,
    }
    if text is not None:
        message["text"] = text
    return {"update_id": update_id, "message": message}


def tg_press(
    update_id: int, chat: int, data: str, markup: dict[str, Any]
) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "callback_query": {
            "id": f"cq{update_id}",
            "chat_instance": "42",
            "data": data,
            "from": {
                "id": chat,
                "is_bot": False,
                "first_name": "Test",
                "language_code": "sl",
            },
            "message": {
                "message_id": 5000,
                "date": int(time.time()),
                "text": "?",
                "chat": {"id": chat, "type": "private"},
                "reply_markup": markup,
            },
        },
    }


def wa_text(wa_id: str, wamid: str, body: str) -> dict[str, Any]:
    return {
        "from": wa_id,
        "id": wamid,
        "timestamp": str(int(time.time())),
        "type": "text",
        "text": {"body": body},
    }


def wa_button(wa_id: str, wamid: str, button_id: str, title: str) -> dict[str, Any]:
    return {
        "from": wa_id,
        "id": wamid,
        "timestamp": str(int(time.time())),
        "type": "interactive",
        "interactive": {
            "type": "button_reply",
            "button_reply": {"id": button_id, "title": title},
        },
    }


def wa_image(wa_id: str, wamid: str) -> dict[str, Any]:
    return {
        "from": wa_id,
        "id": wamid,
        "timestamp": str(int(time.time())),
        "type": "image",
        "image": {"mime_type": "image/jpeg", "id": "1234567890", "sha256": "abc="},
    }


def wa_texts(graph: GraphAPI, wa_id: str) -> list[str]:
    out = []
    for body in graph.bodies(wa_id):
        if body["type"] == "text":
            out.append(body["text"]["body"])
        else:
            out.append(body["interactive"]["body"]["text"])
    return out


def settle(check: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting for the bot"
        time.sleep(0.1)
    time.sleep(0.5)  # a reply of several messages: let the rest arrive


# ------------------------------------------------------------------ Telegram


def test_telegram_question_is_answered_in_slovenian_from_the_kb(
    channels: Channels, articles: dict[str, Any]
) -> None:
    chat = 7001
    resp = channels.telegram_post(
        tg_message(700_100, chat, "Kako dolgo traja dostava paketa?", "sl")
    )
    assert resp.status_code == 200
    settle(lambda: channels.telegram.sent_texts(chat))
    answer = "\n\n".join(channels.telegram.sent_texts(chat))
    assert kb_answer_matches(answer, articles, "shipping_time", "sl"), answer


def test_telegram_photo_as_first_message_is_answered_in_the_users_language(
    channels: Channels, domain_texts: dict[str, dict[str, str]]
) -> None:
    chat = 7002
    photo = [{"file_id": "AgAD", "file_unique_id": "AQAD", "width": 90, "height": 90}]
    channels.telegram_post(tg_message(700_200, chat, None, "ar", photo=photo))
    settle(lambda: channels.telegram.sent_texts(chat))
    assert channels.telegram.sent_texts(chat) == [
        domain_texts["utter_unsupported_content"]["ar"]
    ]


def test_telegram_buttons_and_a_press_lead_to_a_ticket_with_channel_and_message_ids(
    channels: Channels, domain_texts: dict[str, dict[str, str]]
) -> None:
    chat = 7003
    api = channels.telegram
    channels.telegram_post(tg_message(700_300, chat, "Dober dan", "sl"))
    settle(lambda: api.sent_texts(chat))
    channels.telegram_post(tg_message(700_301, chat, "to mi ni pomagalo", "sl"))
    settle(
        lambda: any(
            "reply_markup" in c.params
            for c in api.calls("sendMessage")
            if int(c.params["chat_id"]) == chat
        )
    )
    offer = next(
        c
        for c in api.calls("sendMessage")
        if int(c.params["chat_id"]) == chat and "reply_markup" in c.params
    )
    assert offer.params["text"] == domain_texts["utter_offer_human"]["sl"]
    keyboard = offer.params["reply_markup"]["inline_keyboard"]
    assert [row[0]["text"] for row in keyboard] == ["Da, prosim", "Ne, hvala"]

    channels.telegram_post(
        tg_press(
            700_302, chat, keyboard[0][0]["callback_data"], offer.params["reply_markup"]
        )
    )
    settle(lambda: any(TICKET_REF.search(t) for t in api.sent_texts(chat)))
    assert any(
        c.params["callback_query_id"] == "cq700302"
        for c in api.calls("answerCallbackQuery")
    )
    ref = next(m.group(0) for t in api.sent_texts(chat) if (m := TICKET_REF.search(t)))
    ticket = channels.tickets.get(int(ref.split("-")[1]))
    assert ticket is not None
    assert ticket.channel == "telegram" and ticket.customer_id == f"telegram:{chat}"
    assert ticket.language == "sl"
    customer = [t for t in ticket.transcript if t.speaker == "customer"]
    assert [t.message_id for t in customer] == [
        "300",
        "301",
        "cq700302",
    ]  # message_id, message_id, callback id
    assert {t.channel for t in customer} == {"telegram"}


def test_telegram_long_polling_delivers_updates_without_a_webhook(
    channels: Channels, domain_texts: dict[str, dict[str, str]]
) -> None:
    chat = 7004
    channels.telegram.queue_update(tg_message(700_400, chat, "مرحبا", "ar"))
    settle(lambda: channels.telegram.sent_texts(chat))
    assert channels.telegram.sent_texts(chat) == [domain_texts["utter_greet"]["ar"]]


def test_telegram_wrong_secret_is_refused(channels: Channels) -> None:
    resp = httpx.post(
        f"{channels.bot.config.rasa_url}/webhooks/telegram/webhook",
        json=tg_message(700_500, 7005, "hi", "en"),
        headers={SECRET_HEADER: "guess"},
    )
    assert resp.status_code == 403


# ------------------------------------------------------------------ WhatsApp


def test_whatsapp_verification_handshake(channels: Channels) -> None:
    url = f"{channels.bot.config.rasa_url}/webhooks/whatsapp/webhook"
    ok = httpx.get(
        url,
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": WA_VERIFY,
            "hub.challenge": "8421",
        },
    )
    assert ok.status_code == 200 and ok.text == "8421"
    bad = httpx.get(
        url,
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": "x",
            "hub.challenge": "8421",
        },
    )
    assert bad.status_code == 403


def test_whatsapp_question_is_answered_in_arabic_from_the_kb(
    channels: Channels, articles: dict[str, Any]
) -> None:
    wa_id = "38640000001"
    resp = channels.whatsapp_post(
        wa_notification(wa_text(wa_id, "wamid.E2E1", "كم يوم يستغرق توصيل الطلب؟"))
    )
    assert resp.status_code == 200 and resp.json()["accepted"] == 1
    settle(lambda: channels.graph.bodies(wa_id))
    answer = "\n\n".join(wa_texts(channels.graph, wa_id))
    assert kb_answer_matches(answer, articles, "shipping_time", "ar"), answer


def test_whatsapp_graph_failing_twice_still_delivers_the_answer_exactly_once(
    channels: Channels, domain_texts: dict[str, dict[str, str]]
) -> None:
    wa_id = "38640000002"
    channels.graph.fail_next(
        "messages", 500, graph_error(1, "An unknown error occurred"), times=2
    )
    body = wa_notification(wa_text(wa_id, "wamid.E2E2", "Dober dan"))
    channels.whatsapp_post(body)
    channels.whatsapp_post(body)  # Meta redelivers: processed once
    settle(lambda: channels.graph.bodies(wa_id))
    time.sleep(1.0)
    assert wa_texts(channels.graph, wa_id) == [domain_texts["utter_greet"]["sl"]]
    attempts = [c for c in channels.graph.attempts if c.params.get("to") == wa_id]
    assert len(attempts) == 3


def test_whatsapp_buttons_unsupported_content_and_statuses(
    channels: Channels, domain_texts: dict[str, dict[str, str]]
) -> None:
    wa_id = "38640000003"
    graph = channels.graph
    channels.whatsapp_post(wa_notification(wa_text(wa_id, "wamid.E2E3", "Dober dan")))
    settle(lambda: graph.bodies(wa_id))
    channels.whatsapp_post(wa_notification(wa_image(wa_id, "wamid.E2E4")))
    settle(lambda: len(graph.bodies(wa_id)) >= 2)
    assert wa_texts(graph, wa_id)[-1] == domain_texts["utter_unsupported_content"]["sl"]

    channels.whatsapp_post(
        wa_notification(wa_text(wa_id, "wamid.E2E5", "to mi ni pomagalo"))
    )
    settle(lambda: any(b["type"] == "interactive" for b in graph.bodies(wa_id)))
    offer = next(b for b in graph.bodies(wa_id) if b["type"] == "interactive")
    assert offer["interactive"]["type"] == "button"
    assert (
        offer["interactive"]["body"]["text"] == domain_texts["utter_offer_human"]["sl"]
    )
    yes = offer["interactive"]["action"]["buttons"][0]["reply"]
    assert yes == {"id": "/affirm", "title": "Da, prosim"}

    before = len(graph.bodies(wa_id))
    statuses = [
        {
            "id": "wamid.STANDIN000001",
            "status": "read",
            "recipient_id": wa_id,
            "timestamp": str(int(time.time())),
        }
    ]
    assert channels.whatsapp_post(wa_notification(statuses=statuses)).status_code == 200
    channels.whatsapp_post(
        wa_notification(wa_button(wa_id, "wamid.E2E6", yes["id"], yes["title"]))
    )
    settle(lambda: any(TICKET_REF.search(t) for t in wa_texts(graph, wa_id)))
    new = wa_texts(graph, wa_id)[before:]
    ref = next(m.group(0) for t in new if (m := TICKET_REF.search(t)))
    ticket = channels.tickets.get(int(ref.split("-")[1]))
    assert ticket is not None and ticket.channel == "whatsapp"
    assert ticket.customer_id == f"whatsapp:{wa_id}"
    customer = [t for t in ticket.transcript if t.speaker == "customer"]
    assert [t.message_id for t in customer] == [
        "wamid.E2E3",
        "wamid.E2E4",
        "wamid.E2E5",
        "wamid.E2E6",
    ]


def test_whatsapp_bad_signature_is_refused_and_not_answered(channels: Channels) -> None:
    wa_id = "38640000004"
    resp = channels.whatsapp_post(
        wa_notification(wa_text(wa_id, "wamid.E2E7", "hello")),
        secret="not-the-app-secret",
    )
    assert resp.status_code == 403
    time.sleep(1.0)
    assert channels.graph.bodies(wa_id) == []


@pytest.mark.parametrize(
    ("sender", "first"),
    [("telegram:7006", "telegram"), ("whatsapp:38640000005", "whatsapp")],
)
def test_messages_rasa_sends_on_its_own_reach_the_customers_channel(
    channels: Channels, domain_texts: dict[str, dict[str, str]], sender: str, first: str
) -> None:
    # What the agent inbox does for a reply: Rasa's HTTP API with output_channel=latest.
    chat = sender.split(":", 1)[1]
    if first == "telegram":
        channels.telegram_post(tg_message(700_600, int(chat), "Dober dan", "sl"))
        settle(lambda: channels.telegram.sent_texts(int(chat)))
    else:
        channels.whatsapp_post(
            wa_notification(wa_text(chat, "wamid.E2E8", "Dober dan"))
        )
        settle(lambda: channels.graph.bodies(chat))
    resp = httpx.post(
        f"{channels.bot.config.rasa_url}/conversations/{sender}/trigger_intent",
        params={"output_channel": "latest", "token": channels.bot.config.rasa_token},
        json={"name": "goodbye"},
        timeout=30,
    )
    assert resp.status_code == 200, resp.text
    goodbye = domain_texts["utter_goodbye"]["sl"]
    if first == "telegram":
        settle(lambda: goodbye in channels.telegram.sent_texts(int(chat)))
    else:
        settle(lambda: goodbye in wa_texts(channels.graph, chat))

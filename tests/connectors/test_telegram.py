"""The Telegram channel, against a stand-in Bot API server and real Update JSON.

The channel's blueprint runs in a real Sanic server on 127.0.0.1; python-telegram-bot
talks to the stand-in through ``base_url``. ``on_new_message`` records each Rasa
message and answers through the channel's own output, the way Rasa's agent does.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from rasa.core.channels.channel import UserMessage

from bot.errors import ConfigError
from connectors.credentials import Secret
from connectors.durable import ChannelStore
from connectors.telegram import (
    MAX_BODY_BYTES,
    SECRET_HEADER,
    UNSUPPORTED,
    TelegramClient,
    TelegramInput,
    TelegramOutput,
    command_text,
    compact_payload,
    poll,
    split_text,
)
from tests.connectors.harness import ChannelHarness, serve, stop
from tests.connectors.standins import TelegramBotAPI, telegram_error

pytestmark = pytest.mark.rasa_env
SECRET = "s3cr3t-webhook_token"
CHAT = 987654321


# ------------------------------------------------------------- real Telegram updates


def user(language: str | None = "sl") -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": CHAT,
        "is_bot": False,
        "first_name": "Maja",
        "username": "maja_n",
    }
    if language:
        out["language_code"] = language
    return out


def chat() -> dict[str, Any]:
    return {"id": CHAT, "first_name": "Maja", "username": "maja_n", "type": "private"}


def text_update(
    update_id: int, text: str, message_id: int = 51, **extra: Any
) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": message_id,
            "from": user(extra.pop("language", "sl")),
            "chat": chat(),
            "date": 1764061200,
            "text": text,
            **extra,
        },
    }


def photo_update(update_id: int, caption: str | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {
        "message_id": 60,
        "from": user("ar"),
        "chat": chat(),
        "date": 1764061200,
        "photo": [
            {
                "file_id": "AgACAgQAAxkBAAIBP2",
                "file_unique_id": "AQADsL4xG8",
                "file_size": 1289,
                "width": 90,
                "height": 67,
            },
            {
                "file_id": "AgACAgQAAxkBAAIBP3",
                "file_unique_id": "AQADsL4xG9",
                "file_size": 48231,
                "width": 800,
                "height": 600,
            },
        ],
    }
    if caption:
        message["caption"] = caption
    return {"update_id": update_id, "message": message}


def sticker_update(update_id: int) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": 61,
            "from": user("en"),
            "chat": chat(),
            "date": 1764061200,
            "sticker": {
                "file_id": "CAACAgIAAxkBAAIBQ",
                "file_unique_id": "AgADaQ",
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
                "emoji": "👍",
                "set_name": "HotCherry",
            },
        },
    }


def voice_update(update_id: int) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": 62,
            "from": user("sl"),
            "chat": chat(),
            "date": 1764061200,
            "voice": {
                "file_id": "AwACAgQAAxkBAAIBR",
                "file_unique_id": "AgADxw",
                "duration": 3,
                "mime_type": "audio/ogg",
                "file_size": 9041,
            },
        },
    }


def edited_update(update_id: int, text: str) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "edited_message": {
            "message_id": 51,
            "from": user(),
            "chat": chat(),
            "date": 1764061200,
            "edit_date": 1764061260,
            "text": text,
        },
    }


def callback_update(
    update_id: int, data: str, keyboard: list[list[dict[str, Any]]]
) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "callback_query": {
            "id": f"4382bfdwdsb{update_id}",
            "from": user("sl"),
            "chat_instance": "-83947293847",
            "data": data,
            "message": {
                "message_id": 1001,
                "from": {"id": 123456, "is_bot": True, "first_name": "Lumo"},
                "chat": chat(),
                "date": 1764061200,
                "text": "Vas povežem s sodelavcem?",
                "reply_markup": {"inline_keyboard": keyboard},
            },
        },
    }


# --------------------------------------------------------------------------- harness


class Harness(ChannelHarness[TelegramInput]):
    """A running channel with its stand-in Bot API; posts updates as Telegram does."""

    def __init__(self, api: TelegramBotAPI, channel: TelegramInput) -> None:
        super().__init__(channel)
        self.api = api

    async def post(
        self,
        body: Any,
        *,
        secret: str | bytes | None = SECRET,
        content_type: str = "application/json",
    ) -> httpx.Response:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers: dict[str, str | bytes] = {"Content-Type": content_type}
        if secret is not None:
            headers[SECRET_HEADER] = secret
        async with httpx.AsyncClient() as http:
            return await http.post(
                f"{self.url}/webhooks/telegram/webhook", content=raw, headers=headers
            )


def make_channel(api: TelegramBotAPI, tmp: Path, **extra: Any) -> TelegramInput:
    return TelegramInput.from_credentials(
        {
            "access_token": api.token,
            "secret_token": SECRET,
            "base_url": api.base_url,
            "state_db": str(tmp / "telegram.sqlite3"),
            **extra,
        }
    )


#: Failing turns are retried quickly in tests (the default waits 2 s, 4 s, ...).
FAST_RETRIES = {"turn_attempts": 3, "turn_backoff_seconds": 0.05}


@pytest.fixture()
async def tg(tmp_path: Path) -> AsyncIterator[Harness]:
    with TelegramBotAPI() as api:
        async with Harness(api, make_channel(api, tmp_path, **FAST_RETRIES)) as harness:
            yield harness


# ----------------------------------------------------------------------------- tests


async def test_a_text_message_reaches_rasa_with_ids_and_language_hint(
    tg: Harness,
) -> None:
    resp = await tg.post(text_update(1001, "Kje je moj paket?"))
    assert resp.status_code == 200 and resp.json() == {"status": "accepted"}
    await tg.until(lambda: len(tg.api.sent_texts()) == 1)
    [msg] = tg.messages
    assert (msg.text, msg.sender_id, msg.input_channel) == (
        "Kje je moj paket?",
        f"telegram:{CHAT}",
        "telegram",
    )
    assert msg.message_id == "51"
    assert msg.metadata["language_hint"] == "sl"
    assert msg.metadata["message_id"] == "51" and msg.metadata["update_id"] == 1001
    assert tg.api.calls("getMe"), "the Bot is initialised lazily, on first use"
    [sent] = tg.api.calls("sendMessage")
    assert int(sent.params["chat_id"]) == CHAT
    assert sent.params["text"] == "echo: Kje je moj paket?"


async def test_start_command_greets_and_other_commands_lose_their_slash(
    tg: Harness,
) -> None:
    await tg.post(text_update(1002, "/start"))
    await tg.post(text_update(1003, "/help@lumo_support_bot where is my parcel", 52))
    await tg.until(lambda: len(tg.messages) == 2)
    assert [m.text for m in tg.messages] == ["/greet", "help where is my parcel"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/start", "/greet"),
        ("/start ref123", "/greet"),
        ("/request_human", "request_human"),
        ("hello /start", "hello /start"),
        ("/", "/"),
    ],
)
def test_command_text(text: str, expected: str) -> None:
    assert command_text(text) == expected


async def test_rasa_buttons_become_an_inline_keyboard_and_a_press_sends_the_payload(
    tg: Harness,
) -> None:
    long_payload = (
        '/choose_article{"article_id": "order-confirmation-missing-and-more"}'
    )

    async def offer(message: UserMessage) -> None:
        if message.text == "agent":
            await message.output_channel.send_text_with_buttons(
                message.sender_id,
                "Vas povežem s sodelavcem?",
                [
                    {"title": "Da, prosim", "payload": "/affirm"},
                    {"title": "Članek", "payload": long_payload},
                    {"title": "Pomoč", "url": "https://lumo.example/help"},
                ],
            )

    tg.reply = offer
    await tg.post(text_update(1010, "agent"))
    await tg.until(lambda: len(tg.api.calls("sendMessage")) == 1)
    keyboard = tg.api.calls("sendMessage")[0].params["reply_markup"]["inline_keyboard"]
    assert [row[0]["text"] for row in keyboard] == ["Da, prosim", "Članek", "Pomoč"]
    assert keyboard[0][0]["callback_data"] == "/affirm"
    assert keyboard[2][0]["url"] == "https://lumo.example/help"
    long_key = keyboard[1][0]["callback_data"]
    assert len(long_key.encode()) <= 64, "Telegram refuses callback_data over 64 bytes"

    await tg.post(callback_update(1011, "/affirm", keyboard))
    await tg.post(callback_update(1012, long_key, keyboard) | {"update_id": 1012})
    await tg.until(lambda: len(tg.messages) == 3)
    assert tg.messages[1].text == "/affirm"
    assert tg.messages[2].text == compact_payload(long_payload)
    assert tg.messages[1].metadata["language_hint"] == "sl"
    assert tg.messages[1].sender_id == f"telegram:{CHAT}"
    answered = tg.api.calls("answerCallbackQuery")
    assert [c.params["callback_query_id"] for c in answered] == [
        "4382bfdwdsb1011",
        "4382bfdwdsb1012",
    ]


async def test_a_press_on_a_forgotten_long_key_falls_back_to_the_button_title(
    tg: Harness,
) -> None:
    keyboard = [[{"text": "Vračila", "callback_data": "cb:0123456789abcdef"}]]
    await tg.post(callback_update(1015, "cb:0123456789abcdef", keyboard))
    await tg.until(lambda: len(tg.messages) == 1)
    assert tg.messages[0].text == "Vračila"


async def test_an_edited_message_is_processed_and_flagged(tg: Harness) -> None:
    await tg.post(edited_update(1020, "Kje je moje naročilo?"))
    await tg.until(lambda: len(tg.messages) == 1)
    assert tg.messages[0].text == "Kje je moje naročilo?"
    assert tg.messages[0].metadata["edited"] is True


@pytest.mark.parametrize(
    ("update", "kind"),
    [
        (photo_update(1030), "photo"),
        (sticker_update(1031), "sticker"),
        (voice_update(1032), "voice"),
    ],
)
async def test_unsupported_content_becomes_the_unsupported_intent(
    tg: Harness, update: dict[str, Any], kind: str
) -> None:
    await tg.post(update)
    await tg.until(lambda: len(tg.messages) == 1)
    assert tg.messages[0].text == UNSUPPORTED
    assert tg.messages[0].metadata["content_type"] == kind


async def test_a_photo_with_a_caption_is_understood_by_its_caption(tg: Harness) -> None:
    await tg.post(photo_update(1035, caption="وصل الطلب مكسوراً"))
    await tg.until(lambda: len(tg.messages) == 1)
    assert tg.messages[0].text == "وصل الطلب مكسوراً"
    assert tg.messages[0].metadata["language_hint"] == "ar"


async def test_updates_without_a_customer_message_are_acknowledged_and_ignored(
    tg: Harness,
) -> None:
    pinned = {
        "update_id": 1040,
        "message": {
            "message_id": 70,
            "chat": chat(),
            "date": 1764061200,
            "from": user(),
            "pinned_message": {
                "message_id": 51,
                "chat": chat(),
                "date": 1764061100,
                "text": "x",
            },
        },
    }
    member = {
        "update_id": 1041,
        "my_chat_member": {
            "chat": chat(),
            "from": user(),
            "date": 1764061200,
            "old_chat_member": {
                "user": {"id": 1, "is_bot": True, "first_name": "Lumo"},
                "status": "member",
            },
            "new_chat_member": {
                "user": {"id": 1, "is_bot": True, "first_name": "Lumo"},
                "status": "kicked",
                "until_date": 0,
            },
        },
    }
    for update in (pinned, member):
        resp = await tg.post(update)
        assert resp.json() == {"status": "ignored"}
    await asyncio.sleep(0.2)
    assert tg.messages == []


@pytest.mark.parametrize("secret", [None, "wrong", SECRET + "x", ""])
async def test_a_missing_or_wrong_secret_token_is_403_and_nothing_is_processed(
    tg: Harness, secret: str | None
) -> None:
    resp = await tg.post(text_update(1050, "hello"), secret=secret)
    assert resp.status_code == 403
    assert SECRET_HEADER in resp.json()["error"]
    await asyncio.sleep(0.2)
    assert tg.messages == [] and tg.channel.store.status("1050") is None


@pytest.mark.parametrize(
    "secret",
    [
        "sécret".encode(),  # UTF-8, not ASCII
        b"\xff\xfe",  # not even UTF-8
        SECRET.encode() + "é".encode(),
        b"s3cr3t-webhook_t\xc3\xb6ken",
    ],
)
async def test_a_secret_header_that_is_not_ascii_is_403_not_a_crash(
    tg: Harness, secret: bytes
) -> None:
    resp = await tg.post(text_update(1051, "hello"), secret=secret)
    assert resp.status_code == 403 and SECRET_HEADER in resp.json()["error"]
    await asyncio.sleep(0.2)
    assert tg.messages == [] and tg.channel.store.counts()["pending"] == 0


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "update_id"),
        (json.dumps({"message": {"text": "hi"}}).encode(), "update_id"),
        (json.dumps({"update_id": True, "message": {"text": "hi"}}).encode(), "update_id"),
        (
            json.dumps({"update_id": 5, "message": {"message_id": 1, "text": "hi"}}).encode(),
            "not a valid Telegram Update",
        ),
        (json.dumps({"update_id": 6, "message": "hi"}).encode(), "not a valid Telegram Update"),
        # Lone surrogates parse in Python, but no store (nor Rasa's) can keep them.
        (json.dumps(text_update(7, "hi \ud800")).encode(), "lone surrogate"),
        (json.dumps(text_update(7, "\udc80")).encode(), "message.text"),
        (json.dumps(text_update(7, "hi") | {"\ud83d": 1}).encode(), "lone surrogate"),
        (json.dumps(text_update(7, "a\x00b")).encode(), "NUL"),
        (b'{"update_id": 7, "x": ' + b"[" * 5000 + b"]" * 5000 + b"}", "nested deeper"),
        (json.dumps(text_update(7, "hi")).encode().replace(b"hi", b"h\xc3"), "UTF-8"),
        (b'{"update_id": 7, "x": Infinity}', "Infinity"),
    ],
    ids=lambda value: None if isinstance(value, str) else f"{len(value)}-byte body",
)
async def test_an_authentic_body_that_cannot_be_processed_is_kept_and_answered_200(
    tg: Harness, body: bytes, reason: str
) -> None:
    """Telegram redelivers every non-2xx; a redelivery cannot fix these bodies."""
    resp = await tg.post(body)
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "rejected" and reason in resp.json()["error"]
    [(kept_reason, kept_body)] = tg.channel.store.rejected()
    assert kept_body == body and reason in kept_reason, "kept for an operator"
    await asyncio.sleep(0.2)
    assert tg.messages == [] and tg.api.calls("sendMessage") == []
    assert tg.channel.store.counts()["pending"] == 0, "nothing half-stored"
    await tg.post(text_update(8, "still here?", 80))
    await tg.until(lambda: tg.api.sent_texts() == ["echo: still here?"])


@pytest.mark.parametrize(
    ("body", "content_type", "status", "reason"),
    [
        (json.dumps(text_update(7, "hi")).encode(), "text/plain", 415, "application/json"),
        (
            json.dumps(text_update(8, "x" * (MAX_BODY_BYTES + 1))).encode(),
            "application/json",
            413,
            "larger",
        ),
    ],
)
async def test_bad_requests_get_a_clear_4xx_and_nothing_half_processed(
    tg: Harness, body: bytes, content_type: str, status: int, reason: str
) -> None:
    resp = await tg.post(body, content_type=content_type)
    assert resp.status_code == status
    assert reason in resp.json()["error"]
    await asyncio.sleep(0.2)
    assert tg.messages == [] and tg.api.calls("sendMessage") == []
    assert tg.channel.store.rejected() == []


async def test_a_redelivered_update_is_processed_once_even_concurrently(
    tg: Harness,
) -> None:
    update = text_update(1060, "Kdaj pride paket?")
    first = await asyncio.gather(*(tg.post(update) for _ in range(5)))
    assert sorted(r.json()["status"] for r in first) == ["accepted"] + ["duplicate"] * 4
    await tg.until(lambda: len(tg.api.sent_texts()) == 1)
    later = await tg.post(update)
    assert later.json() == {"status": "duplicate"}
    await asyncio.sleep(0.2)
    assert len(tg.messages) == 1 and len(tg.api.sent_texts()) == 1
    await tg.until(lambda: tg.channel.store.status(f"{CHAT}:51") == "done")


async def test_the_same_message_under_a_new_update_id_is_processed_once(
    tg: Harness,
) -> None:
    """After a webhook reset or a switch from polling, Telegram re-numbers updates."""
    first = await tg.post(text_update(1061, "Kdaj pride paket?", message_id=77))
    again = await tg.post(text_update(5061, "Kdaj pride paket?", message_id=77))
    assert (first.json()["status"], again.json()["status"]) == ("accepted", "duplicate")
    other_chat = text_update(5062, "Kdaj pride paket?", message_id=77)
    other_chat["message"]["chat"] = chat() | {"id": CHAT + 1}
    assert (await tg.post(other_chat)).json()["status"] == "accepted", (
        "message ids are per chat"
    )
    await tg.until(lambda: len(tg.api.sent_texts()) == 2)
    await asyncio.sleep(0.2)
    assert len(tg.messages) == 2


async def test_each_edit_is_processed_once(tg: Harness) -> None:
    await tg.post(text_update(1062, "Kje je paket", message_id=78))
    edit = edited_update(1063, "Kje je moj paket?")
    edit["edited_message"]["message_id"] = 78
    assert (await tg.post(edit)).json()["status"] == "accepted", "an edit is news"
    edit_again = edit | {"update_id": 6063}
    assert (await tg.post(edit_again)).json()["status"] == "duplicate"
    later = edited_update(1064, "Kje je moj paket, prosim?")
    later["edited_message"] |= {"message_id": 78, "edit_date": 1764061300}
    assert (await tg.post(later)).json()["status"] == "accepted"
    await tg.until(lambda: len(tg.messages) == 3)


async def test_sixteen_simultaneous_duplicates_to_two_servers_on_one_state_db(
    tmp_path: Path,
) -> None:
    with TelegramBotAPI() as api:
        async with (
            Harness(api, make_channel(api, tmp_path)) as one,
            Harness(api, make_channel(api, tmp_path)) as two,
        ):
            update = text_update(1065, "Kdaj pride paket?", message_id=79)
            answers = await asyncio.gather(
                *(h.post(update) for h in [one, two] * 8)
            )
            statuses = sorted(a.json()["status"] for a in answers)
            assert statuses == ["accepted"] + ["duplicate"] * 15
            await one.until(lambda: len(api.sent_texts()) == 1)
            await asyncio.sleep(0.3)
            assert len(one.messages) + len(two.messages) == 1
            assert api.sent_texts() == ["echo: Kdaj pride paket?"]


async def test_a_failed_turn_is_retried_without_resending_what_was_delivered(
    tg: Harness,
) -> None:
    """on_new_message raising means the turn did not happen (a failed action, a store
    error): the update stays queued, the next try completes the turn, the customer gets
    each reply once, and their next message waits its turn."""
    failures = {"Kje je moj paket?": 2}

    async def flaky(message: UserMessage) -> None:
        await message.output_channel.send_text_message(message.sender_id, "Preverjam …")
        if failures.get(message.text or "", 0) > 0:
            failures[message.text or ""] -= 1
            raise RuntimeError("action_answer_from_kb failed")
        await message.output_channel.send_text_message(
            message.sender_id, f"echo: {message.text}"
        )

    tg.reply = flaky
    await tg.post(text_update(1090, "Kje je moj paket?", message_id=90))
    await tg.post(text_update(1091, "Hvala", message_id=91))
    await tg.until(lambda: tg.channel.store.status(f"{CHAT}:91") == "done")
    assert [m.text for m in tg.messages] == ["Kje je moj paket?"] * 3 + ["Hvala"]
    assert tg.api.sent_texts() == [
        "Preverjam …",
        "echo: Kje je moj paket?",
        "Preverjam …",
        "echo: Hvala",
    ]
    assert tg.channel.store.status(f"{CHAT}:90") == "done"


async def test_a_button_press_is_acknowledged_once_however_often_its_turn_is_tried(
    tg: Harness,
) -> None:
    tries = 0

    async def flaky(message: UserMessage) -> None:
        nonlocal tries
        tries += 1
        if tries == 1:
            raise RuntimeError("tracker store unavailable")

    tg.reply = flaky
    keyboard = [[{"text": "Da", "callback_data": "/affirm"}]]
    await tg.post(callback_update(1095, "/affirm", keyboard))
    await tg.until(lambda: tg.channel.store.status("callback:4382bfdwdsb1095") == "done")
    assert tries == 2 and len(tg.api.calls("answerCallbackQuery")) == 1


async def test_a_turn_that_keeps_failing_is_parked_and_the_chat_goes_on(
    tg: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(message: UserMessage) -> None:
        if message.text == "crash":
            raise RuntimeError("action server down")
        await ChannelHarness.echo(message)

    tg.reply = broken
    with caplog.at_level(logging.ERROR, logger="connectors.durable"):
        await tg.post(text_update(1096, "crash", message_id=96))
        await tg.post(text_update(1097, "still there?", message_id=97))
        await tg.until(lambda: tg.api.sent_texts() == ["echo: still there?"])
    assert [m.text for m in tg.messages] == ["crash"] * 3 + ["still there?"]
    assert tg.channel.store.status(f"{CHAT}:96") == "failed"
    assert "parked" in caplog.text and "action server down" in caplog.text
    async with httpx.AsyncClient() as http:
        health = (await http.get(f"{tg.url}/webhooks/telegram/")).json()
    assert health == {"status": "ok", "pending": 0, "failed": 1, "rejected": 0}


async def test_flood_control_waits_and_sends_the_message_once(tg: Harness) -> None:
    tg.api.fail_next(
        "sendMessage",
        429,
        telegram_error(429, "Too Many Requests: retry after 1", retry_after=1),
    )
    started = asyncio.get_running_loop().time()
    await tg.post(text_update(1070, "hello"))
    await tg.until(lambda: len(tg.api.sent_texts()) == 1, timeout=15)
    assert asyncio.get_running_loop().time() - started >= 0.9, (
        "waited as Telegram asked"
    )
    assert len([c for c in tg.api.attempts if c.method == "sendMessage"]) == 2
    assert tg.api.sent_texts() == ["echo: hello"]


async def test_a_user_who_blocked_the_bot_is_logged_not_crashed(
    tg: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    tg.api.fail_next(
        "sendMessage",
        403,
        telegram_error(403, "Forbidden: bot was blocked by the user"),
    )
    with caplog.at_level(logging.WARNING, logger="connectors.telegram"):
        await tg.post(text_update(1080, "hello"))
        await tg.until(lambda: tg.channel.store.status(f"{CHAT}:51") == "done")
    assert "blocked by the user" in caplog.text
    # the channel keeps working for everyone else
    await tg.post(text_update(1081, "again", 53))
    await tg.until(lambda: len(tg.api.sent_texts()) == 1)


async def test_a_reprocessed_update_does_not_resend_replies_already_delivered(
    tmp_path: Path,
) -> None:
    with TelegramBotAPI() as api:
        store = ChannelStore(tmp_path / "s.sqlite3")
        client = TelegramClient(Secret(api.token), api.base_url)
        for _ in range(2):  # the same turn twice, as after a crash mid-turn
            out = TelegramOutput(client, store, reply_prefix="2000")
            await out.send_text_message(f"telegram:{CHAT}", "first")
            await out.send_text_message(f"telegram:{CHAT}", "second")
        await client.shutdown()
        assert api.sent_texts() == ["first", "second"]


async def test_messages_accepted_before_a_restart_are_processed_after_it(
    tmp_path: Path,
) -> None:
    with TelegramBotAPI() as api:
        channel = make_channel(api, tmp_path)
        assert channel.store.accept(
            "3000",
            {
                "sender": f"telegram:{CHAT}",
                "text": "still there?",
                "message_id": "90",
                "metadata": {"channel": "telegram"},
            },
        )
        seen: list[str] = []

        async def on_message(message: UserMessage) -> None:
            seen.append(message.text or "")

        server, _ = await serve(make_channel(api, tmp_path), on_message)
        try:
            for _ in range(200):
                if seen:
                    break
                await asyncio.sleep(0.02)
        finally:
            await stop(server)
        assert seen == ["still there?"]
        assert ChannelStore(tmp_path / "telegram.sqlite3").status("3000") == "done"


async def test_long_polling_forwards_updates_to_the_webhook_and_confirms_them(
    tg: Harness,
) -> None:
    tg.api.queue_update(text_update(4000, "Dober dan"))
    tg.api.queue_update(sticker_update(4001))
    stop_polling = asyncio.Event()
    task = asyncio.create_task(
        poll(tg.channel, tg.url, stop=stop_polling, poll_timeout=1)
    )
    try:
        await tg.until(lambda: len(tg.messages) == 2)
    finally:
        stop_polling.set()
        await asyncio.wait_for(task, 10)
    assert [m.text for m in tg.messages] == ["Dober dan", UNSUPPORTED]
    assert tg.api.calls("deleteWebhook"), "polling and a webhook exclude each other"
    offsets = [int(c.params.get("offset") or 0) for c in tg.api.calls("getUpdates")]
    assert max(offsets) == 4002, "confirmed only after the webhook took them"


def test_channel_without_secrets_is_disabled_and_answers_503(tmp_path: Path) -> None:
    channel = TelegramInput.from_credentials(
        {
            "access_token": "",
            "secret_token": "",
            "state_db": str(tmp_path / "t.sqlite3"),
        }
    )
    assert not channel.enabled and channel.get_output_channel() is None
    assert not (tmp_path / "t.sqlite3").exists(), "nothing touched in the constructor"


async def test_disabled_channel_webhook_answers_503(tmp_path: Path) -> None:
    channel = TelegramInput.from_credentials({"state_db": str(tmp_path / "t.sqlite3")})
    server, url = await serve(channel, lambda m: asyncio.sleep(0))
    try:
        async with httpx.AsyncClient() as http:
            resp = await http.post(
                f"{url}/webhooks/telegram/webhook", json={"update_id": 1}
            )
            health = await http.get(f"{url}/webhooks/telegram/")
    finally:
        await stop(server)
    assert resp.status_code == 503 and "TELEGRAM_BOT_TOKEN" in resp.json()["error"]
    assert health.json() == {"status": "disabled"}


@pytest.mark.parametrize(
    ("creds", "key"),
    [
        ({"access_token": "1:x", "secret_token": ""}, "secret_token"),
        ({"access_token": "", "secret_token": "abc"}, "access_token"),
        ({"access_token": "1:x", "secret_token": "has spaces!"}, "secret_token"),
        (
            {"access_token": "1:x", "secret_token": "abc", "base_url": "ftp://x"},
            "base_url",
        ),
    ],
)
def test_half_configured_channel_fails_at_start_naming_the_key(
    creds: dict[str, str], key: str
) -> None:
    with pytest.raises(ConfigError) as err:
        TelegramInput.from_credentials(creds)
    assert err.value.file == "credentials.yml"
    assert err.value.key == f"connectors.telegram.TelegramInput.{key}"


def test_secrets_never_show_in_reprs() -> None:
    assert "abc" not in repr(Secret("abc")) and "abc" not in str(Secret("abc"))
    assert Secret("abc").matches("abc") and not Secret("abc").matches(None)


def test_constructing_the_channel_makes_no_network_call(tmp_path: Path) -> None:
    with TelegramBotAPI() as api:
        make_channel(api, tmp_path).get_output_channel()
        assert api.attempts == []


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (
            '/choose_article{"article_id": "returns"}',
            '/choose_article{"article_id":"returns"}',
        ),
        ("/affirm", "/affirm"),
        ("/x{broken", "/x{broken"),
    ],
)
def test_compact_payload(payload: str, expected: str) -> None:
    assert compact_payload(payload) == expected


def test_split_text_keeps_every_character_under_the_limit() -> None:
    text = ("word " * 2000).strip()
    pieces = split_text(text, 4096)
    assert all(len(p) <= 4096 for p in pieces) and len(pieces) == 3
    assert " ".join(pieces) == text

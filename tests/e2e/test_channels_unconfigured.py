"""Without Telegram or WhatsApp secrets the bot starts as `make run` starts it.

The project's credentials.yml names the channels' secrets as ${VAR}s; bot.run sets the
unset ones to "" (Rasa would refuse to start), and each channel disables itself: its
webhook answers 503 naming the variables to set, and the other channels keep working.
"""

from __future__ import annotations

import os

import httpx
import pytest

from bot.run import Bot
from tests.e2e.conftest import say, texts

CHANNEL_VARS = ("TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET", "WHATSAPP_APP_SECRET")


@pytest.mark.skipif(
    any(os.environ.get(v) for v in CHANNEL_VARS), reason="channel secrets are set here"
)
@pytest.mark.parametrize(
    ("channel", "variable"),
    [("telegram", "TELEGRAM_BOT_TOKEN"), ("whatsapp", "WHATSAPP_APP_SECRET")],
)
def test_an_unconfigured_channel_is_disabled_and_says_what_to_set(
    bot: Bot, channel: str, variable: str
) -> None:
    base = f"{bot.config.rasa_url}/webhooks/{channel}"
    assert httpx.get(f"{base}/").json() == {"status": "disabled"}
    resp = httpx.post(f"{base}/webhook", json={"update_id": 1})
    assert resp.status_code == 503
    assert variable in resp.json()["error"]
    assert texts(say(bot, f"unconfigured-{channel}", "hello"))  # web chat still answers

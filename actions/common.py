"""Helpers shared by the actions: language of the reply, off-loop calls, article replies."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any, TypeVar

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.services import get_services
from kb_index.articles import Article

T = TypeVar("T")


def reply_language(tracker: Tracker) -> str:
    """The language the conversation is answered in (slot set by action_set_language)."""
    langs = get_services().languages
    lang = tracker.get_slot("language")
    return lang if lang in langs.supported else langs.default


def latest_intent(tracker: Tracker) -> tuple[str | None, float | None]:
    intent = (tracker.latest_message or {}).get("intent") or {}
    return intent.get("name"), intent.get("confidence")


async def off_loop(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run blocking client code (embedding, SQL) in the default executor."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, functools.partial(func, *args, **kwargs))


def article_text(article: Article, language: str, fallback_language: str) -> str:
    lang = language if language in article.body else fallback_language
    return f"{article.title.get(lang, '')}\n\n{article.body.get(lang, '')}".strip()


def send_article(
    dispatcher: CollectingDispatcher, article: Article, language: str, fallback_language: str
) -> None:
    """Answer with one article; its id travels in the bot event's metadata for the ticket."""
    dispatcher.utter_message(
        text=article_text(article, language, fallback_language), kb_articles=[article.id]
    )

"""Helpers shared by the actions: language of the reply, off-loop calls, article replies."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.services import get_services
from bot.tickets.model import Turn
from bot.tickets.transcript import translate_for_agents
from bot.translate import (
    AGENTS,
    LANGUAGE_FALLBACK,
    MACHINE_TRANSLATED,
    OUTBOUND,
    TranslationSettings,
    Translator,
    apology_due,
    flag_in_bot_events,
    notice_for,
    translator_for,
)
from kb_index.articles import Article

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Longest customer text machine-translated for agents. A translation model reads a
#: sentence at a time, so a 1 MB message is thousands of model calls, seconds of CPU
#: and a cache entry of megabytes that stays in memory; agents read such a text in the
#: original (which the ticket always keeps). About 512 tokens of ordinary prose, what
#: the e5 embedder reads of a question too (kb_index caps queries at 2000 characters).
MAX_TRANSLATED_CHARS = 2000


def reply_language(tracker: Tracker) -> str:
    """The language the conversation is answered in (slot set by action_set_language)."""
    langs = get_services().languages
    lang = tracker.get_slot("language")
    return lang if lang in langs.supported else langs.default


def customer_language(tracker: Tracker) -> str:
    """The conversation's language; may be one served through translation ("de")."""
    lang = tracker.get_slot("language")
    return lang if isinstance(lang, str) and lang else get_services().languages.default


def get_translator() -> Translator:
    """This process's translator over the installed packages (shared, lazily loaded)."""
    return translator_for(TranslationSettings.from_settings(get_services().settings))


def language_apology_due(tracker: Tracker) -> bool:
    """Whether the customer still has to hear that we answer in the default language."""
    langs = get_services().languages
    return apology_due(
        tracker.get_slot("language"),
        tracker.get_slot("detected_language"),
        tracker.events,
        native=langs.supported,
        default=langs.default,
        translator=get_translator(),
    )


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


async def send_article_to_customer(
    dispatcher: CollectingDispatcher, tracker: Tracker, article: Article
) -> None:
    """An article in the customer's language: written, machine-translated or apologised.

    Editors' text in the customer's language wins. Otherwise the default language's
    text is machine-translated when a path is installed (marked ``machine_translated``,
    the source text kept under ``translation`` for the ticket, the notice on the first
    translated message). Otherwise the default language, after the one-time apology.
    """
    services = get_services()
    default = services.languages.default
    language = reply_language(tracker)
    customer = customer_language(tracker)
    if customer == language or customer in article.body:
        if language_apology_due(tracker):
            dispatcher.utter_message(response="utter_language_fallback")
        shown = customer if customer in article.body else language
        send_article(dispatcher, article, shown, default)
        return
    translator = get_translator()
    source = default if default in article.body else next(iter(article.body))
    text = article_text(article, source, default)
    if translator.can_translate(source, customer, OUTBOUND):
        try:
            result = await off_loop(translator.translate, text, source, customer)
        except Exception:  # a broken model: the apology and the original below
            logger.exception("translating %s into %s failed", article.id, customer)
        else:
            if result.complete:
                notice = notice_for(
                    translator.settings, customer,
                    flag_in_bot_events(tracker.events, MACHINE_TRANSLATED),
                )
                dispatcher.utter_message(
                    text=f"{result.text}\n\n{notice}" if notice else result.text,
                    kb_articles=[article.id],
                    language=customer,
                    machine_translated=True,
                    translation={**result.to_dict(), "text": text, "language": source},
                )
                return
            logger.warning("article %s: translation lost %s", article.id, result.lost)
    # No translation path: the native language this customer most likely reads
    # (knowledge_base.closest_language, e.g. hr -> sl), else the default, with the note.
    shown = services.kb_settings.reading_language(customer)
    if shown not in article.body:
        shown = language
    if not flag_in_bot_events(tracker.events, LANGUAGE_FALLBACK):
        note = services.kb_settings.closest_language_note(shown)
        if shown != default and note:
            dispatcher.utter_message(text=note, language_fallback=True)
        else:
            dispatcher.utter_message(response="utter_language_fallback")
    send_article(dispatcher, article, shown, default)


async def transcript_for_agents(turns: list[Turn], queue: str) -> list[Turn]:
    """Customer turns translated into the language of ``queue`` ("orders-en" → en)."""
    translator = get_translator()
    if not translator.settings.allows(AGENTS):
        return turns
    agent_language = queue.rsplit("-", 1)[-1]

    def _translate(text: str, source: str, target: str) -> str | None:
        if len(text) > MAX_TRANSLATED_CHARS:
            logger.info(
                "turn of %d characters left untranslated for agents (limit %d)",
                len(text), MAX_TRANSLATED_CHARS,
            )
            return None
        if not translator.can_translate(source, target):
            return None
        try:
            result = translator.translate(text, source, target)
        except Exception:
            logger.exception("turn translation %s→%s for agents failed", source, target)
            return None
        return result.text if result.complete else None

    return await off_loop(
        translate_for_agents, turns, agent_language, _translate,
        pivot=translator.settings.pivot,
    )

"""The clients one action-server process shares: knowledge base, tickets, hours, languages.

Built lazily from supportbot.yml on first use and then reused, so each action stays a thin
piece of orchestration. ``reset()`` drops them (tests point SUPPORTBOT_CONFIG elsewhere).
"""

from __future__ import annotations

import threading
from functools import cached_property

from bot.hours import BusinessHours
from bot.language import LanguageSettings
from bot.settings import Settings, load_settings
from bot.tickets.routing import RoutingRules
from bot.tickets.store import TicketStore, open_configured_store
from kb_index.retriever import KBSettings, KnowledgeBase


class Services:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def languages(self) -> LanguageSettings:
        return LanguageSettings.from_section(self.settings.section("languages"))

    @cached_property
    def kb_settings(self) -> KBSettings:
        return KBSettings.from_settings(self.settings)

    @cached_property
    def kb(self) -> KnowledgeBase:
        return KnowledgeBase(self.kb_settings)

    @cached_property
    def tickets(self) -> TicketStore:
        return open_configured_store(self.settings)

    @cached_property
    def hours(self) -> BusinessHours:
        return BusinessHours.from_section(self.settings.section("business_hours"))

    @cached_property
    def routing(self) -> RoutingRules:
        return RoutingRules.from_settings(self.settings)

    @cached_property
    def fallbacks_before_human(self) -> int:
        section = self.settings.section("escalation", required=False)
        value = section.get("fallbacks_before_human", 2)
        if not isinstance(value, int) or value < 1:
            raise section.error(
                "fallbacks_before_human", f"must be a whole number >= 1, got {value!r}"
            )
        return value

    def check(self) -> None:
        """Validate every section now, so a broken file fails at start-up, not mid-chat."""
        _ = (self.languages, self.kb_settings, self.hours, self.fallbacks_before_human,
             self.routing)


_lock = threading.Lock()
_services: Services | None = None


def get_services() -> Services:
    global _services
    with _lock:
        if _services is None:
            _services = Services(load_settings())
        return _services


def reset() -> None:
    global _services
    with _lock:
        _services = None

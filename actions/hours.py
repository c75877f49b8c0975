"""action_check_hours: is a human available now, and if not, when?"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.common import reply_language
from bot import clock
from bot.hours import format_opening
from bot.services import get_services


class ActionCheckHours(Action):
    def name(self) -> str:
        return "action_check_hours"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        hours = get_services().hours
        now = clock.now()
        status = hours.status(now)
        language = reply_language(tracker)
        if status.open and status.closes_at is not None:
            dispatcher.utter_message(
                response="utter_hours_open",
                closes_at=format_opening(status.closes_at, language, now),
            )
        else:
            dispatcher.utter_message(
                response="utter_hours_closed",
                next_opening=format_opening(status.next_opening, language, now)
                if status.next_opening
                else "—",
            )
        return []

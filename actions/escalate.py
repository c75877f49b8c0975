"""action_escalate: hand the conversation to a human with its full context.

The ticket is written and committed before the customer is told its number; if the store
is down the customer is told so honestly and given another way to reach support. Rasa may
retry an action call, so the ticket carries a dedupe key (conversation + triggering
message) and a retry returns the same ticket instead of a second one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import off_loop, reply_language
from bot import clock
from bot.errors import SupportBotError
from bot.hours import format_opening
from bot.services import get_services
from bot.tickets import routing
from bot.tickets.model import TicketDraft, Turn
from bot.tickets.transcript import summarise, turns_from_events

logger = logging.getLogger(__name__)

#: Intent that led to the offer of a human → escalation reason.
_REASON_FOR_INTENT = {
    "request_human": routing.ASKED_FOR_HUMAN,
    "complaint": routing.COMPLAINT,
    "not_helpful": routing.KB_NOT_HELPFUL,
    "nlu_fallback": routing.REPEATED_FALLBACK,
}


def escalation_reason(customer_intents: Sequence[str | None]) -> str:
    """Why we escalate, from the customer's intents (newest last).

    "yes" to an offer of a human is not the reason: the reason is what led to the offer,
    so skip affirm/deny and take the newest intent that explains it.
    """
    for intent in reversed(customer_intents):
        if intent in ("affirm", "deny", None):
            continue
        return _REASON_FOR_INTENT.get(intent, routing.ASKED_FOR_HUMAN)
    return routing.ASKED_FOR_HUMAN


def dedupe_key(tracker: Tracker) -> str:
    message_id = (tracker.latest_message or {}).get("message_id")
    if not message_id:
        message_id = f"n{sum(1 for e in tracker.events if e.get('event') == 'user')}"
    return f"{tracker.sender_id}:{message_id}"


class ActionEscalate(Action):
    def name(self) -> str:
        return "action_escalate"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        services = get_services()
        language = reply_language(tracker)
        now = clock.now()
        turns: list[Turn] = turns_from_events(tracker.events)
        customer_turns = [t for t in turns if t.speaker == "customer"]
        intents = [t.intent for t in customer_turns]
        reason = escalation_reason(intents)
        route = routing.route(
            [i for i in intents if i],
            language,
            reason,
            [t.text for t in customer_turns],
        )
        status = services.hours.status(now)
        after_hours = not status.open
        draft = TicketDraft(
            conversation_id=tracker.sender_id,
            channel=tracker.get_latest_input_channel() or "unknown",
            customer_id=tracker.sender_id,
            language=tracker.get_slot("detected_language") or language,
            reason=reason,
            queue=route.queue,
            priority=route.priority,
            after_hours=after_hours,
            promised_reply_at=status.next_opening if after_hours else None,
            tags=tuple(route.tags),
            summary=summarise(turns, [i for i in intents if i]),
            transcript=turns,
            dedupe_key=dedupe_key(tracker),
        )
        try:
            ticket = await off_loop(services.tickets.create, draft)
        except SupportBotError:
            logger.exception("could not create a ticket for %s", tracker.sender_id)
            dispatcher.utter_message(response="utter_ticket_failed")
            return []
        logger.info("ticket %s created for %s (%s)", ticket.ref, tracker.sender_id, reason)
        if after_hours and status.next_opening is not None:
            dispatcher.utter_message(
                response="utter_ticket_created_after_hours",
                ticket_ref=ticket.ref,
                next_opening=format_opening(status.next_opening, language, now),
            )
        else:
            dispatcher.utter_message(response="utter_ticket_created", ticket_ref=ticket.ref)
        return [SlotSet("ticket_ref", ticket.ref)]

"""action_escalate: hand the conversation to a human with its full context.

Nothing is promised before the ticket exists: no rule or story sends a "passing you to
our team" before this action, and the action speaks only after the store committed the
ticket (a complaint's apology included). When the store fails, the action fails loudly:
it raises, so the Rasa server logs it, the turn is not saved and the channel answers
503 (web chat retries with the same message id; Telegram and WhatsApp redeliver). The
customer is never told about a ticket that does not exist, and the escalation completes
on the retry once the store is back.

A retry is safe: the ticket carries a dedupe key (conversation + triggering message), so
a retried turn returns the ticket it already created instead of a second one; and a
conversation has at most one open ticket, so asking again (or resending after the action
server died between commit and reply) adds to that ticket. Each run acknowledges once.
Queue, priority and tags come from the ``routing:`` rules; the after-hours promise is the
ticket's queue's next opening.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Sequence
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import off_loop, reply_language, transcript_for_agents
from bot import clock
from bot.errors import SupportBotError
from bot.hours import format_opening
from bot.services import get_services
from bot.tickets import routing
from bot.tickets.model import TicketDraft, Turn
from bot.tickets.transcript import summarise, turns_after, turns_from_events

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


#: Fault injection for the crash-safety test: ``after_ticket_commit`` kills the action
#: server right after the ticket is committed and before the customer is told.
FAULT_ENV = "SUPPORTBOT_FAULT"


def _fault_point(name: str) -> None:
    if os.environ.get(FAULT_ENV) == name:
        logger.warning("%s=%s: killing the action server", FAULT_ENV, name)
        os.kill(os.getpid(), signal.SIGKILL)


class ActionEscalate(Action):
    def name(self) -> str:
        return "action_escalate"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        services = get_services()
        store = services.tickets
        rules = services.routing
        language = reply_language(tracker)
        now = clock.now()
        # Reading the events and routing are pure but scale with the conversation and
        # its texts (sentiment patterns over every customer message): off the loop too.
        turns: list[Turn] = await off_loop(turns_from_events, tracker.events)
        customer_turns = [t for t in turns if t.speaker == "customer"]
        intents = [t.intent for t in customer_turns]
        reason = escalation_reason(intents)
        try:
            # One open ticket per conversation: asking again (or writing again after a
            # crash before the reply) adds to it instead of opening a second one.
            ticket = await off_loop(store.open_ticket_for, tracker.sender_id)
            if ticket is not None:
                new = turns_after(ticket.transcript, turns)
                new = await transcript_for_agents(new, ticket.queue)
                if new:
                    await off_loop(store.append_turns, ticket.number, new)
            else:
                previous = []
                if rules.repeat_window is not None:
                    previous = await off_loop(
                        store.list, customer_id=tracker.sender_id,
                        created_after=now - rules.repeat_window, limit=None,
                        transcripts=False,
                    )
                route = await off_loop(
                    routing.route,
                    [i for i in intents if i],
                    language,
                    reason,
                    [t.text for t in customer_turns],
                    rules=rules,
                    kb_articles=[a for t in turns for a in t.kb_articles],
                    previous_tickets=len(previous),
                )
                status = rules.hours_for(route.queue, services.hours).status(now)
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
                    summary=await off_loop(summarise, turns, [i for i in intents if i]),
                    transcript=await transcript_for_agents(turns, route.queue),
                    dedupe_key=dedupe_key(tracker),
                )
                ticket = await off_loop(store.create, draft)
        except SupportBotError as exc:
            # No apology, no promise: the turn fails and is retried (module docstring).
            logger.error(
                "no ticket for %s, failing the turn so that it is retried: %s",
                tracker.sender_id, exc,
            )
            raise
        _fault_point("after_ticket_commit")
        logger.info("ticket %s for %s (%s)", ticket.ref, tracker.sender_id, reason)
        if reason == routing.COMPLAINT:
            dispatcher.utter_message(response="utter_complaint_sorry")
        # The promise is the ticket's queue's next opening (its own hours, else ours).
        status = rules.hours_for(ticket.queue, services.hours).status(now)
        if not status.open and status.next_opening is not None:
            dispatcher.utter_message(
                response="utter_ticket_created_after_hours",
                ticket_ref=ticket.ref,
                next_opening=format_opening(status.next_opening, language, now),
            )
        else:
            dispatcher.utter_message(response="utter_ticket_created", ticket_ref=ticket.ref)
        return [SlotSet("ticket_ref", ticket.ref)]

"""After a human agent: ask the customer for a rating and store it on the ticket.

The inbox resolves a ticket by resuming the bot and triggering ``EXTERNAL_ask_csat``
(bot/inbox/rasa_api.py); the rule in data/rules/csat.yml runs ``action_ask_csat``, which
remembers the ticket in the ``csat_ticket`` slot and asks the one question
(``utter_ask_csat``, in the conversation's language). The customer's answer ("5", "٤",
"pet", "4/5") is the ``csat_score`` intent, and ``action_store_csat`` stores the score
on that ticket and thanks them. A score with no question before it is not a rating: the
customer is asked to rephrase instead.

``action_session_start`` keeps a held conversation quiet across sessions: Rasa starts
a new session after ``session_expiration_time`` of silence, and a new session forgets
that the conversation was paused. While the conversation's ticket is open and assigned,
the new session starts paused again, so the bot never answers over the agent.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, ConversationPaused, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import off_loop
from bot.errors import SupportBotError
from bot.services import get_services
from bot.tickets.model import parse_ref
from bot.tickets.store import CsatRefusedError, TicketNotFoundError

logger = logging.getLogger(__name__)

CSAT_SLOT = "csat_ticket"

#: Number words customers type instead of a digit (en, sl, ar), after casefolding.
_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "ena": 1, "ena zvezdica": 1, "dve": 2, "tri": 3, "štiri": 4, "stiri": 4, "pet": 5,
    "واحد": 1, "اثنان": 2, "اثنين": 2, "ثلاثة": 3, "ثلاث": 3, "أربعة": 4, "اربعة": 4,
    "أربع": 4, "خمسة": 5, "خمس": 5,
}
_DIGIT = re.compile(r"(?<!\d)([1-5])(?!\d)(?:\s*(?:/|od|من|of)\s*5)?")


def parse_csat(text: str | None) -> int | None:
    """The score 1..5 in a customer's answer, or None when there is none or several.

    Arabic-Indic and other Unicode digits count ("٤" is 4); "4/5" and "4 od 5" are 4;
    "10" or "0" are not scores; "3 or 4" is ambiguous and gives None.
    """
    if not text:
        return None
    normal = "".join(
        str(unicodedata.digit(ch)) if unicodedata.digit(ch, None) is not None else ch
        for ch in unicodedata.normalize("NFKC", text)
    ).casefold()
    # "4/5" names the scale once; only the first number of such a pair is the score.
    found = {int(m.group(1)) for m in _DIGIT.finditer(normal)}
    if re.search(r"\d", _DIGIT.sub("", normal)):
        return None  # another number (0, 6, 10, an order number): not an answer
    words = {
        score for word, score in _WORDS.items()
        if re.search(rf"(?<!\w){re.escape(word)}(?!\w)", normal)
    }
    scores = found | words
    return scores.pop() if len(scores) == 1 else None


class ActionAskCsat(Action):
    """Ask the one CSAT question about the conversation's latest ticket, once resolved.

    The store records the question (``ask_csat``) before it is sent: only a question
    the store knows about can be answered with a rating. A ticket that is not resolved
    (a typed ``/EXTERNAL_ask_csat``) or is rated already gets no question.
    """

    def name(self) -> str:
        return "action_ask_csat"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        store = get_services().tickets
        try:
            latest = await off_loop(
                store.list, conversation_id=tracker.sender_id, limit=1,
                transcripts=False,
            )
            if not latest:
                return []
            asked = await off_loop(store.ask_csat, latest[0].number)
        except CsatRefusedError as exc:
            logger.info("csat: not asking %s: %s", tracker.sender_id, exc)
            return []
        except SupportBotError:
            logger.exception("csat: could not read tickets of %s", tracker.sender_id)
            return []
        dispatcher.utter_message(response="utter_ask_csat", ticket_ref=asked.ref)
        return [SlotSet(CSAT_SLOT, asked.ref)]


class ActionStoreCsat(Action):
    """Store the customer's 1..5 on the ticket the question was about.

    The store decides whether a rating is due (resolved, asked, not yet rated): the
    slot and the text come from the tracker, which is the customer's to shape. A
    refused rating is not thanked for; the customer is asked to rephrase.
    """

    def name(self) -> str:
        return "action_store_csat"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        ref = tracker.get_slot(CSAT_SLOT)
        if not ref:
            dispatcher.utter_message(response="utter_rephrase")
            return []
        score = parse_csat((tracker.latest_message or {}).get("text"))
        if score is None:
            dispatcher.utter_message(response="utter_ask_csat", ticket_ref=ref)
            return []
        try:
            await off_loop(get_services().tickets.set_csat, parse_ref(ref), score)
        except (CsatRefusedError, ValueError, TicketNotFoundError) as exc:
            logger.warning("csat: %s from %s refused: %s", score, tracker.sender_id, exc)
            dispatcher.utter_message(response="utter_rephrase")
            return [SlotSet(CSAT_SLOT, None)]
        except SupportBotError:
            # The rating is lost, the customer's goodwill need not be: still thank them.
            logger.exception("csat: could not store %s for %s", score, ref)
        else:
            logger.info("csat: %s rated %d", ref, score)
        dispatcher.utter_message(response="utter_csat_thanks")
        return [SlotSet(CSAT_SLOT, None)]


class ActionSessionStart(Action):
    """Rasa's session start (slots carried over), paused while an agent holds it."""

    def name(self) -> str:
        return "action_session_start"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = [SessionStarted()]
        carry = (domain.get("session_config") or {}).get(
            "carry_over_slots_to_new_session", True
        )
        if carry:
            events += [
                SlotSet(name, value)
                for name, value in tracker.current_slot_values().items()
                if value is not None
            ]
        try:
            held = await off_loop(
                get_services().tickets.open_ticket_for, tracker.sender_id
            )
        except SupportBotError:
            # Unknown is not "held": the customer is answered rather than ignored.
            logger.exception("session start: could not read tickets of %s",
                             tracker.sender_id)
            held = None
        if held is not None and held.assignee and held.status == "open":
            events.append(ConversationPaused())
        events.append(ActionExecuted("action_listen"))
        return events

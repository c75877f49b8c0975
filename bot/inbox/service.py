"""What the inbox does, without HTTP: take, reply, resolve, and keep tickets in sync.

Each operation checks that the agent may touch the ticket's queue, talks to Rasa first
and writes the ticket second, so a failure leaves the customer in the safer state:

* take:    pause the bot, then assign. If Rasa is down nothing changes and the agent is
  told; the bot never keeps answering under an agent who believes it is silenced.
* reply:   deliver through Rasa (recorded in the tracker, sent through the customer's
  channel), then append the agent turn. Replying to an unassigned ticket takes it.
* resolve: resume the bot, mark the ticket resolved, then ask for CSAT. A customer
  is never left with a paused bot and nobody listening.

Store calls block, so they run in the default executor.

Sync: with Rasa's SQL tracker store readable (bot.inbox.tracker_events) a poll asks
it once for the events stored since the previous poll and syncs only the tickets whose
conversations have new events; a page view reads one conversation's events since the
ticket's newest turn. Without it, every open conversation is read through Rasa's HTTP
API on every poll (the cost then grows with open tickets).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from bot.errors import SupportBotError
from bot.inbox.config import Agent
from bot.inbox.sync import missing_turns
from bot.inbox.tracker_events import TrackerEvents
from bot.inbox.translation import NoTranslation, Translator
from bot.tickets.model import Ticket, Turn
from bot.tickets.store import TicketStore

logger = logging.getLogger(__name__)
T = TypeVar("T")

#: Longest agent reply accepted (characters); chat platforms cut longer ones anyway.
MAX_REPLY_CHARS = 4000
MAX_NOTE_CHARS = 4000
#: Statuses whose conversations are read from Rasa (a resolved one is the bot's again).
SYNCED_STATUSES = ("new", "open", "pending")


class InboxError(SupportBotError):
    """The agent's request cannot be done; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason
        super().__init__(reason)


class Conversations(Protocol):
    """The part of bot.inbox.rasa_api.RasaClient the inbox uses."""

    async def pause(self, conversation_id: str) -> None: ...
    async def send_agent_message(
        self, conversation_id: str, text: str, metadata: dict[str, Any]
    ) -> None: ...
    async def resume(self, conversation_id: str) -> None: ...
    async def ask_csat(self, conversation_id: str) -> None: ...
    async def events(self, conversation_id: str) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class Reply:
    """What an agent's reply became: the ticket, and the text the customer received."""

    ticket: Ticket
    sent: str
    translated: bool


class Inbox:
    def __init__(
        self,
        store: TicketStore,
        conversations: Conversations,
        *,
        clock: Callable[[], datetime],
        translator: Translator | None = None,
        tracker_events: TrackerEvents | None = None,
    ) -> None:
        self.store = store
        self.conversations = conversations
        self.clock = clock
        self.translator: Translator = translator or NoTranslation()
        self.tracker_events = tracker_events
        self._locks: dict[int, asyncio.Lock] = {}
        self._polled = False

    async def blocking(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """A blocking store call in the default executor (the loop keeps serving)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            None, functools.partial(func, *args, **kwargs)
        )

    def _lock(self, number: int) -> asyncio.Lock:
        return self._locks.setdefault(number, asyncio.Lock())

    async def ticket_for(self, agent: Agent, number: int) -> Ticket:
        """The ticket, if it exists and the agent belongs to its queue; else 404.

        One answer for both: a 403 would tell an agent which numbers exist in queues
        they may not see (and, by probing, which queue each is in).
        """
        ticket = await self.blocking(self.store.get, number)
        if ticket is None or not agent.can_read(ticket.queue):
            raise InboxError(404, f"there is no ticket number {number}")
        return ticket

    async def take(self, agent: Agent, number: int) -> Ticket:
        """Assign the ticket to ``agent`` and pause the bot in its conversation."""
        async with self._lock(number):
            ticket = await self.ticket_for(agent, number)
            return await self._take(agent, ticket)

    async def _take(self, agent: Agent, ticket: Ticket) -> Ticket:
        if ticket.status == "resolved":
            raise InboxError(409, f"{ticket.ref} is resolved")
        if ticket.assignee not in (None, agent.name):
            raise InboxError(409, f"{ticket.ref} is assigned to {ticket.assignee}")
        await self.conversations.pause(ticket.conversation_id)
        if ticket.assignee == agent.name and ticket.status == "open":
            return ticket
        return await self.blocking(
            self.store.assign, ticket.number, agent.name, now=self.clock()
        )

    async def note(self, agent: Agent, number: int, text: str) -> None:
        """An internal note: on the ticket, never shown to the customer."""
        text = _checked(text, MAX_NOTE_CHARS, "note")
        await self.ticket_for(agent, number)
        await self.blocking(
            self.store.add_note, number, agent.name, text, now=self.clock()
        )

    async def reply(self, agent: Agent, number: int, text: str) -> Reply:
        """Send ``text``, translated when the agent does not speak the language."""
        text = _checked(text, MAX_REPLY_CHARS, "reply")
        async with self._lock(number):
            ticket = await self.ticket_for(agent, number)
            if ticket.assignee != agent.name or ticket.status != "open":
                ticket = await self._take(agent, ticket)
            translation = None
            if not agent.speaks(ticket.language):
                translation = self.translator.translate(
                    text, agent.language, ticket.language
                )
            sent = translation or text
            metadata: dict[str, Any] = {
                "speaker": "agent",
                "agent": agent.name,
                "language": ticket.language,
                "ticket": ticket.ref,
            }
            if translation:
                metadata["original"] = text
            await self.conversations.send_agent_message(
                ticket.conversation_id, sent, metadata
            )
            turn = Turn(
                at=self.clock(),
                speaker="agent",
                text=text,
                language=ticket.language,
                translation=translation,
                channel=ticket.channel,
            )
            updated = await self.blocking(
                self.store.add_agent_reply, number, agent.name, turn, now=turn.at
            )
        return Reply(ticket=updated, sent=sent, translated=translation is not None)

    async def resolve(self, agent: Agent, number: int) -> Ticket:
        """Give the conversation back to the bot, resolve, and ask for CSAT."""
        async with self._lock(number):
            ticket = await self.ticket_for(agent, number)
            if ticket.status == "resolved":
                return ticket
            if ticket.assignee not in (None, agent.name):
                raise InboxError(409, f"{ticket.ref} is assigned to {ticket.assignee}")
            await self._sync(ticket)  # the last customer words belong to this ticket
            await self.conversations.resume(ticket.conversation_id)
            resolved = await self.blocking(
                self.store.resolve, number, agent.name, now=self.clock()
            )
            # Resolved before the question: a new Rasa session started by the question
            # must not find the ticket still held (action_session_start would pause it).
            try:
                await self.conversations.ask_csat(ticket.conversation_id)
            except SupportBotError as exc:
                logger.warning(
                    "inbox: %s resolved without CSAT question: %s", ticket.ref, exc
                )
            return resolved

    async def sync(self, number: int) -> list[Turn]:
        """Append the conversation's turns the ticket lacks; returns them."""
        async with self._lock(number):
            ticket = await self.blocking(self.store.get, number)
            if ticket is None or ticket.status not in SYNCED_STATUSES:
                return []
            return await self._sync(ticket)

    async def _sync(self, ticket: Ticket) -> list[Turn]:
        if self.tracker_events is None:
            events = await self.conversations.events(ticket.conversation_id)
        else:
            tracked = [t.at for t in ticket.transcript if t.speaker != "agent"]
            # A second of overlap: missing_turns skips what the ticket already holds.
            since = max(tracked).timestamp() - 1.0 if tracked else None
            events = await self.blocking(
                self.tracker_events.events_after, ticket.conversation_id, since
            )
        new = missing_turns(ticket.transcript, events)
        if new:
            await self.blocking(self.store.append_turns, ticket.number, new)
        return new

    async def sync_open(self, limit: int = 200) -> int:
        """Sync every ticket that is not resolved; returns how many turns were added.

        One failing conversation (Rasa restarting) does not stop the others.
        """
        added = 0
        tickets: Sequence[Ticket] = await self.blocking(
            self.store.list,
            status=list(SYNCED_STATUSES),
            limit=limit,
            transcripts=False,
        )
        if self.tracker_events is not None:
            by_conversation = {t.conversation_id: t for t in tickets}
            changed = await self.blocking(self.tracker_events.poll, list(by_conversation))
            if self._polled:
                tickets = [by_conversation[c] for c in changed if c in by_conversation]
            # else: the first poll only set the watermark; read every ticket once below.
            self._polled = True
        for ticket in tickets:
            try:
                added += len(await self.sync(ticket.number))
            except SupportBotError as exc:
                logger.warning("inbox: could not sync %s: %s", ticket.ref, exc)
        return added


def _checked(text: str, limit: int, what: str) -> str:
    text = (text or "").strip()
    if not text:
        raise InboxError(400, f"the {what} is empty")
    if len(text) > limit:
        raise InboxError(413, f"the {what} is longer than {limit} characters")
    return text

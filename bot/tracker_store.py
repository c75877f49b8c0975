"""Rasa's SQL tracker store made safe to serve, and the "turn done" contract of channels.

Why this exists (issue 10): Rasa 3.6's ``SQLTrackerStore.session_scope`` turns *every*
``ValueError`` raised while the session is open into ``print_error_and_exit`` ("schema
not found"), so one sender id SQLite cannot encode (a lone surrogate, a
``UnicodeEncodeError``) stopped the whole server. And Rasa's processor logs a failed
action ("Encountered an exception while running action ...") and carries on, so a
customer whose turn never reached the action server got ``200 []``.

:class:`SafeSQLTrackerStore` (``tracker_store: type: bot.tracker_store.SafeSQLTrackerStore``
in endpoints.yml, with the same keys as Rasa's ``type: SQL``; SQLite and PostgreSQL)

* raises :class:`TrackerStoreError` for a missing PostgreSQL schema instead of exiting;
  every other database error stays the exception it is. It is an error for that
  request, never for the process;
* refuses to save the tracker of a turn in which an action failed, so the turn is not
  recorded as done and a retry of the same message (same ``message_id``) runs it again.

The turn contract, for every channel (web chat, Telegram, WhatsApp):

    ``await run_turn(on_new_message, message)`` returns only when the turn is done and
    saved. It raises :class:`TurnFailed` when it is not (an action failed, the tracker
    store failed): nothing of the turn was stored, the channel answers 503 (web chat:
    the page retries with the same message id) or keeps the platform message for a
    retry (the durable queue). Any other exception from ``on_new_message`` means the
    same: the turn is not done.

How a failure reaches the channel through Rasa: Rasa wraps every tracker store in a
``FailSafeTrackerStore`` whose ``except Exception`` saves into an in-memory store when
the real one fails, and the processor swallows action errors. Inside a turn scope the
store therefore raises :class:`TurnAborted`, a ``BaseException`` (like
``asyncio.CancelledError``, so those broad handlers let it through; Rasa's conversation
lock is released by its ``finally``), and :func:`run_turn` turns it back into the
ordinary :class:`TurnFailed`. Outside a turn scope (Rasa's HTTP API, the inbox) the
store raises plain exceptions and Rasa's own handling applies. Action failures are seen
through :class:`ActionFailureFilter` on the ``rasa.core.processor`` logger: Rasa 3.6 has
no hook for them other than that log line.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from rasa.core.tracker_store import SQLTrackerStore, ensure_schema_exists

logger = logging.getLogger(__name__)

#: The processor's logger and the start of the line it logs when an action raised
#: (rasa/core/processor.py, MessageProcessor._run_action, Rasa 3.6).
PROCESSOR_LOGGER = "rasa.core.processor"
ACTION_FAILED_LOG = "Encountered an exception while running action"

T = TypeVar("T")


class TrackerStoreError(RuntimeError):
    """The tracker store cannot serve this request (not a reason to stop the server)."""


class TurnFailed(Exception):
    """A customer's turn was not done: nothing of it is stored, it can be retried."""


class TurnAborted(BaseException):
    """Ends a turn from inside Rasa; only raised inside :func:`run_turn`, which catches it.

    A ``BaseException`` so that Rasa's ``FailSafeTrackerStore`` (``except Exception`` →
    save to memory) cannot hide it.
    """


@dataclass
class TurnState:
    """What went wrong during the current turn (None: nothing yet)."""

    failure: str | None = None
    actions_failed: list[str] = field(default_factory=list)


_turn: contextvars.ContextVar[TurnState | None] = contextvars.ContextVar(
    "supportbot_turn", default=None
)


def current_turn() -> TurnState | None:
    """The state of the turn running in this task, or None outside a turn scope."""
    return _turn.get()


class ActionFailureFilter(logging.Filter):
    """Marks the running turn failed when Rasa's processor logs a failed action.

    It never drops a record: the log line stays where operators look for it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        state = _turn.get()
        if state is not None and str(record.msg).startswith(ACTION_FAILED_LOG):
            state.actions_failed.append(str(record.msg)[:200])
            if state.failure is None:
                state.failure = "an action failed"
        return True


_FILTER = ActionFailureFilter()


def install_action_failure_filter() -> None:
    """Attach the filter to Rasa's processor logger (idempotent, cheap)."""
    processor_logger = logging.getLogger(PROCESSOR_LOGGER)
    if _FILTER not in processor_logger.filters:
        processor_logger.addFilter(_FILTER)


async def run_turn(handle: Callable[[T], Awaitable[Any]], message: T) -> None:
    """Run one customer turn (``handle`` is the channel's ``on_new_message``).

    Raises:
        TurnFailed: the turn is not done (see the module docstring); retry it.
    """
    install_action_failure_filter()
    state = TurnState()
    token = _turn.set(state)
    try:
        await handle(message)
    except TurnAborted as aborted:
        raise TurnFailed(str(aborted) or state.failure or "turn aborted") from None
    finally:
        _turn.reset(token)
    if state.failure is not None:
        # Rasa may have ended the turn without saving (nothing to save): still not done.
        raise TurnFailed(state.failure)


def _abort_or_raise(error: Exception) -> None:
    """Inside a turn: abort it (past Rasa's broad handlers); outside: raise ``error``."""
    state = _turn.get()
    if state is None:
        raise error
    state.failure = state.failure or str(error)
    raise TurnAborted(str(error)) from error


class SafeSQLTrackerStore(SQLTrackerStore):
    """Rasa's SQL tracker store that fails one request, never the process.

    Configured like Rasa's ``type: SQL`` (dialect, db, host, port, username, password,
    login_db, query); Rasa constructs it with those keys as keyword arguments.
    """

    @contextlib.contextmanager
    def session_scope(self) -> Generator[Any, None, None]:
        """Rasa's session scope without its ``ValueError`` → ``sys.exit`` path."""
        session = self.sessionmaker()
        try:
            try:
                ensure_schema_exists(session)
            except ValueError as missing:
                raise TrackerStoreError(
                    f"PostgreSQL schema '{missing}' (POSTGRESQL_SCHEMA) does not exist: "
                    "create it or unset POSTGRESQL_SCHEMA"
                ) from missing
            yield session
        finally:
            session.close()

    async def save(self, tracker: Any) -> None:
        """Save, unless this turn had a failed action (then the turn is aborted)."""
        state = _turn.get()
        if state is not None and state.failure is not None:
            raise TurnAborted(
                f"not saving conversation {tracker.sender_id!r}: {state.failure}"
            )
        try:
            await super().save(tracker)
        except Exception as error:
            logger.error(
                "tracker store: saving conversation %r failed: %s",
                tracker.sender_id,
                error,
            )
            _abort_or_raise(TrackerStoreError(f"saving the conversation failed: {error}"))

    async def _retrieve(
        self, sender_id: str, fetch_events_from_all_sessions: bool
    ) -> Any:
        """Retrieve; inside a turn a store error ends the turn instead of a blank chat.

        Rasa's fail-safe wrapper answers ``None`` for a failed read, and the processor
        would then answer the customer as a stranger (and run actions on an empty
        conversation).
        """
        try:
            return await super()._retrieve(sender_id, fetch_events_from_all_sessions)
        except Exception as error:
            logger.error(
                "tracker store: reading conversation %r failed: %s", sender_id, error
            )
            _abort_or_raise(TrackerStoreError(f"reading the conversation failed: {error}"))
            raise  # unreachable: _abort_or_raise always raises

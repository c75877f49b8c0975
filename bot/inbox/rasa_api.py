"""Conversation control through Rasa's HTTP API (``rasa run --enable-api``).

Why the HTTP API and not the tracker store directly: Rasa holds the conversation lock
and its own copy of the tracker; events appended through the API are applied under that
lock, saved, and (with ``execute_side_effects``) sent through the channel's output.

* pause:   ``POST /conversations/{id}/tracker/events`` ``[{"event": "pause"}]``:
  Rasa keeps recording the customer's messages but predicts nothing (paused).
* reply:   the same endpoint with a ``bot`` event and ``execute_side_effects=true&
  output_channel=latest``: the BotUttered is recorded in the tracker and sent through
  the output channel of the customer's latest input channel. This works while paused
  (the processor only checks the pause before predicting).
* resume + CSAT: ``[{"event": "resume"}]``, then ``POST .../trigger_intent``
  ``{"name": "EXTERNAL_ask_csat"}``: a rule runs ``action_ask_csat`` and then listens,
  so the customer's "4" is understood as the answer.
* read:    ``GET /conversations/{id}/tracker`` for the customer's messages while paused
  (only where Rasa's tracker store cannot be read directly: bot.inbox.tracker_events).

Conversation ids in the path: Rasa's routes (Sanic 21.12, ``<conversation_id:path>``)
hand the raw path segment to the handler without percent-decoding it, so
``whatsapp%3A386…`` is another conversation than ``whatsapp:386…`` and a quoted id
silently addresses a phantom conversation. The id therefore travels unquoted, and an id
with a character that cannot travel raw in a path (``/ ? # %``, spaces, non-ASCII …) is
refused before any call. Every answer is checked to be about the conversation asked
for (the tracker's ``sender_id``), so the inbox never reports "Sent." for a reply Rasa
applied elsewhere.

Authentication: ``Authorization: Bearer <JWT>``, HS256-signed with
``$SUPPORTBOT_RASA_TOKEN`` (Rasa started with ``--jwt-secret`` and ``--jwt-method
HS256``), payload ``{"user": {"username": "inbox", "role": "admin"}}`` as
``rasa.server.requires_auth`` expects. The token never goes into a URL, so no access
log, proxy log or httpx's request log can carry it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from bot.errors import SupportBotError
from bot.rasa_server import admin_jwt

URL_ENV = "SUPPORTBOT_RASA_URL"
TOKEN_ENV = "SUPPORTBOT_RASA_TOKEN"
#: The intent a resolve triggers; data/rules/csat.yml maps it to action_ask_csat.
ASK_CSAT_INTENT = "EXTERNAL_ask_csat"
#: Characters a path segment carries raw (RFC 3986 ``pchar`` without ``%``-escapes),
#: which Sanic 21.12 hands to Rasa's handler unchanged.
_ROUTABLE_ID = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@]{1,255}")


class RasaUnavailableError(SupportBotError):
    """Rasa's HTTP API did not do what was asked; the message says what and why."""


class UnroutableConversationError(RasaUnavailableError):
    """The conversation id cannot be carried in Rasa's URL path unchanged."""


def conversation_path(conversation_id: str, tail: str) -> str:
    """``/conversations/<id>/<tail>`` with the id exactly as Rasa will read it.

    Raises UnroutableConversationError for an id the route would change: quoting it
    would make Rasa act on ``whatsapp%3A…``, a conversation nobody is in.
    """
    if (
        not isinstance(conversation_id, str)
        or not _ROUTABLE_ID.fullmatch(conversation_id)
        or conversation_id in (".", "..")
    ):
        raise UnroutableConversationError(
            f"conversation id {conversation_id!r} cannot be sent to Rasa's HTTP API: "
            "its route does not decode %-escapes, so only letters, digits and "
            "-._~!$&'()*+,;=:@ travel unchanged (no '/', '?', '#', '%', spaces or "
            "non-ASCII)"
        )
    return f"/conversations/{conversation_id}/{tail}"


def bearer_headers(token: str, *, user: str = "inbox", now: float | None = None) -> dict[str, str]:
    """The ``Authorization`` header Rasa's ``--jwt-secret`` check accepts (admin role).

    Empty when there is no token (a Rasa started without authentication). The token is
    built by :func:`bot.rasa_server.admin_jwt`, the launcher's own rule.
    """
    if not token:
        return {}
    return {"Authorization": f"Bearer {admin_jwt(token, user, now=now)}"}


class RasaClient:
    """Async client for the few endpoints the inbox needs; the token only in a header."""

    def __init__(self, base_url: str, token: str, *, timeout: float = 15.0) -> None:
        if not base_url:
            raise RasaUnavailableError(
                f"no Rasa URL: set ${URL_ENV} (bot.run does) or pass --rasa-url"
            )
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._client = httpx.AsyncClient(base_url=self.base_url, timeout=timeout)

    def __repr__(self) -> str:  # never the token
        return f"RasaClient({self.base_url!r})"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RasaClient:
        env = os.environ if env is None else env
        return cls(env.get(URL_ENV, ""), env.get(TOKEN_ENV, ""))

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _call(
        self,
        method: str,
        path: str,
        what: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
    ) -> Any:
        try:
            resp = await self._client.request(
                method,
                path,
                params=dict(params or {}),
                json=json,
                headers=bearer_headers(self._token),
            )
        except httpx.HTTPError as exc:
            raise RasaUnavailableError(
                f"could not {what}: Rasa at {self.base_url} did not answer "
                f"({type(exc).__name__})"
            ) from None
        if resp.status_code >= 400:
            try:
                reason = resp.json().get("message") or resp.text
            except (ValueError, AttributeError):
                reason = resp.text
            raise RasaUnavailableError(
                f"could not {what}: Rasa answered {resp.status_code}: "
                f"{str(reason)[:200]}"
            )
        try:
            return resp.json()
        except ValueError:
            raise RasaUnavailableError(
                f"could not {what}: Rasa's answer is not JSON ({resp.text[:100]!r})"
            ) from None

    @staticmethod
    def _checked(state: Any, conversation_id: str, what: str) -> dict[str, Any]:
        """``state`` when it is the tracker of ``conversation_id``, else an error.

        The proof that Rasa acted on the customer's conversation and not on a phantom
        one with a similar name.
        """
        sender = state.get("sender_id") if isinstance(state, Mapping) else None
        if sender != conversation_id:
            raise RasaUnavailableError(
                f"could not {what}: Rasa answered for conversation {sender!r}, not "
                f"{conversation_id!r}; nothing was done for the customer"
            )
        return dict(state)

    async def append_events(
        self,
        conversation_id: str,
        events: Sequence[Mapping[str, Any]],
        what: str,
        *,
        send: bool = False,
    ) -> dict[str, Any]:
        path = conversation_path(conversation_id, "tracker/events")
        params = {"include_events": "NONE"}
        if send:
            params.update({"output_channel": "latest", "execute_side_effects": "true"})
        result = await self._call("POST", path, what, params=params, json=list(events))
        return self._checked(result, conversation_id, what)

    async def pause(self, conversation_id: str) -> None:
        """The bot stops answering this conversation (messages are still recorded)."""
        state = await self.append_events(
            conversation_id, [{"event": "pause"}], "pause the bot"
        )
        if state.get("paused") is not True:
            raise RasaUnavailableError(
                f"could not pause the bot: conversation {conversation_id!r} is not paused"
            )

    async def send_agent_message(
        self, conversation_id: str, text: str, metadata: Mapping[str, Any]
    ) -> None:
        """Record the agent's message as a bot utterance and send it to the customer."""
        event = {"event": "bot", "text": text, "metadata": dict(metadata)}
        await self.append_events(
            conversation_id, [event], "deliver the reply", send=True
        )

    async def resume(self, conversation_id: str) -> None:
        """Give the conversation back to the bot."""
        state = await self.append_events(
            conversation_id, [{"event": "resume"}], "resume the bot"
        )
        if state.get("paused") is not False:
            raise RasaUnavailableError(
                f"could not resume the bot: conversation {conversation_id!r} is still "
                "paused"
            )

    async def ask_csat(self, conversation_id: str) -> None:
        """The bot asks its one satisfaction question (rule -> action_ask_csat)."""
        what = "ask for CSAT"
        result = await self._call(
            "POST",
            conversation_path(conversation_id, "trigger_intent"),
            what,
            params={"output_channel": "latest", "include_events": "NONE"},
            json={"name": ASK_CSAT_INTENT},
        )
        tracker = result.get("tracker") if isinstance(result, Mapping) else None
        self._checked(tracker, conversation_id, what)

    async def events(self, conversation_id: str) -> list[dict[str, Any]]:
        """Every event of the conversation (all sessions)."""
        what = "read the conversation"
        state = await self._call(
            "GET",
            conversation_path(conversation_id, "tracker"),
            what,
            params={"include_events": "ALL"},
        )
        return list(self._checked(state, conversation_id, what).get("events") or [])

    async def health(self) -> bool:
        try:
            resp = await self._client.get("/")
        except httpx.HTTPError:
            return False
        return resp.status_code == 200

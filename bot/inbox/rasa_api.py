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
* read:    ``GET /conversations/{id}/tracker`` for the customer's messages while paused.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import httpx

from bot.errors import SupportBotError

URL_ENV = "SUPPORTBOT_RASA_URL"
TOKEN_ENV = "SUPPORTBOT_RASA_TOKEN"
#: The intent a resolve triggers; data/rules/csat.yml maps it to action_ask_csat.
ASK_CSAT_INTENT = "EXTERNAL_ask_csat"


class RasaUnavailableError(SupportBotError):
    """Rasa's HTTP API did not do what was asked; the message says what and why."""


class RasaClient:
    """Async client for the few endpoints the inbox needs; token sent as a header."""

    def __init__(self, base_url: str, token: str, *, timeout: float = 15.0) -> None:
        if not base_url:
            raise RasaUnavailableError(
                f"no Rasa URL: set ${URL_ENV} (bot.run does) or pass --rasa-url"
            )
        self.base_url = base_url.rstrip("/")
        # Rasa 3.6 reads the token only from the query string (``?token=``): it travels
        # on loopback server-to-server calls, never in a URL a browser sees.
        self._token = token
        self._client = httpx.AsyncClient(base_url=self.base_url, timeout=timeout)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RasaClient:
        env = os.environ if env is None else env
        return cls(env.get(URL_ENV, ""), env.get(TOKEN_ENV, ""))

    async def aclose(self) -> None:
        await self._client.aclose()

    def _path(self, conversation_id: str, tail: str) -> str:
        return f"/conversations/{quote(conversation_id, safe='')}/{tail}"

    async def _call(
        self,
        method: str,
        path: str,
        what: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
    ) -> Any:
        query = {**(params or {})}
        if self._token:
            query["token"] = self._token
        try:
            resp = await self._client.request(method, path, params=query, json=json)
        except httpx.HTTPError as exc:
            raise RasaUnavailableError(
                f"could not {what}: Rasa at {self.base_url} did not answer "
                f"({type(exc).__name__})"
            ) from None
        if resp.status_code >= 400:
            try:
                reason = resp.json().get("message") or resp.text
            except ValueError:
                reason = resp.text
            raise RasaUnavailableError(
                f"could not {what}: Rasa answered {resp.status_code}: "
                f"{str(reason)[:200]}"
            )
        return resp.json()

    async def append_events(
        self,
        conversation_id: str,
        events: Sequence[Mapping[str, Any]],
        what: str,
        *,
        send: bool = False,
    ) -> dict[str, Any]:
        params = (
            {"output_channel": "latest", "execute_side_effects": "true"} if send else {}
        )
        result = await self._call(
            "POST",
            self._path(conversation_id, "tracker/events"),
            what,
            params=params,
            json=list(events),
        )
        return dict(result)

    async def pause(self, conversation_id: str) -> None:
        """The bot stops answering this conversation (messages are still recorded)."""
        await self.append_events(conversation_id, [{"event": "pause"}], "pause the bot")

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
        await self.append_events(
            conversation_id, [{"event": "resume"}], "resume the bot"
        )

    async def ask_csat(self, conversation_id: str) -> None:
        """The bot asks its one satisfaction question (rule -> action_ask_csat)."""
        await self._call(
            "POST",
            self._path(conversation_id, "trigger_intent"),
            "ask for CSAT",
            params={"output_channel": "latest"},
            json={"name": ASK_CSAT_INTENT},
        )

    async def events(self, conversation_id: str) -> list[dict[str, Any]]:
        """Every event of the conversation (all sessions)."""
        state = await self._call(
            "GET",
            self._path(conversation_id, "tracker"),
            "read the conversation",
            params={"include_events": "ALL"},
        )
        return list(state.get("events") or [])

    async def health(self) -> bool:
        try:
            resp = await self._client.get("/")
        except httpx.HTTPError:
            return False
        return resp.status_code == 200

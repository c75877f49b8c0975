"""A channel's blueprint in a real Sanic server on 127.0.0.1, with Rasa's side recorded.

The Telegram and WhatsApp channel tests drive their channel the same way: start its
blueprint where Rasa mounts it (``/webhooks/<name>``), record each Rasa message and answer
through the channel's own output, as Rasa's agent does. Rasa environment only (it serves
the channels); the platforms' stand-ins are in standins.py, which both environments use.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Sanic

C = TypeVar("C", bound=InputChannel)
H = TypeVar("H", bound="ChannelHarness[Any]")


async def serve(
    channel: InputChannel, on_message: Callable[[UserMessage], Awaitable[Any]]
) -> tuple[Any, str]:
    """Start ``channel``'s blueprint under ``/webhooks/<name>``; (server, base URL)."""
    Sanic.test_mode = True  # several apps per process (Sanic rewrites methods otherwise)
    app = Sanic(f"{channel.name()}{uuid.uuid4().hex[:12]}")
    app.blueprint(channel.blueprint(on_message), url_prefix=f"/webhooks/{channel.name()}")
    # Sanic 21.12 reads port=0 as "not given" and binds 8000, so two channels (or two
    # test runs) collided; a socket bound to a free port is passed instead.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = await app.create_server(sock=sock, return_asyncio_server=True)
    await server.startup()
    await server.after_start()
    return server, f"http://127.0.0.1:{server.server.sockets[0].getsockname()[1]}"


async def stop(server: Any) -> None:
    """Stop a server from :func:`serve` the way Sanic does (the channel drains first)."""
    await server.before_stop()
    await server.close()
    await server.after_stop()


class ChannelHarness(Generic[C]):
    """A running channel (``async with``): its URL and the Rasa messages it produced.

    Each message is recorded in ``messages`` and answered by ``reply``, by default an
    echo through the message's own output channel; a test may replace ``reply``.
    """

    def __init__(self, channel: C) -> None:
        self.channel = channel
        self.url = ""
        self.messages: list[UserMessage] = []
        self.reply: Callable[[UserMessage], Awaitable[None]] = self.echo
        self._server: Any = None

    async def __aenter__(self: H) -> H:
        self._server, self.url = await serve(self.channel, self._on_message)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await stop(self._server)

    async def _on_message(self, message: UserMessage) -> None:
        self.messages.append(message)
        await self.reply(message)

    @staticmethod
    async def echo(message: UserMessage) -> None:
        await message.output_channel.send_text_message(
            message.sender_id, f"echo: {message.text}"
        )

    async def until(self, check: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait until ``check()`` holds; fails the test after ``timeout`` seconds."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not check():
            assert asyncio.get_running_loop().time() < deadline, "timed out"
            await asyncio.sleep(0.02)

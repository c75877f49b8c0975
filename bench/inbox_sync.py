"""What the inbox's ticket sync costs per poll: whole trackers over Rasa's HTTP API
(before) against new rows from Rasa's SQL tracker store (after).

Starts the Rasa server and the action server as ``make run`` does (bot.run.Bot, no
inbox process), writes N conversations of realistic events (customer turns with NLU
data, bot turns, actions; 60 events each) through Rasa's own API into its SQL tracker
store, opens one ticket per conversation, then runs the inbox's ``Inbox.sync_open``
(the background poller's body) repeatedly in this process:

* ``http``: the reader before this change, every open conversation's whole tracker
  through ``GET /conversations/{id}/tracker`` on every poll;
* ``sql``:  bot.inbox.tracker_events, one query for the rows since the previous poll.

Each is measured idle (no new messages) and with one new customer message per poll.
CPU is what the Rasa server process and this process spent (``/proc/<pid>/stat``
utime+stime, and ``time.process_time``), per poll, and as % of one core at the default
poll interval of 2 s. Results: bench/results/inbox_sync.md.

    .venv/bin/python bench/inbox_sync.py [--tickets 10 40] [--polls 15]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import RESULTS, stamp
from bot.inbox.rasa_api import RasaClient
from bot.inbox.service import Inbox
from bot.inbox.tracker_events import TrackerEvents
from bot.run import Bot, BotConfig
from bot.settings import write_isolated_copy
from bot.tickets.model import TicketDraft, Turn
from bot.tickets.store import SQLiteTicketStore

POLL_SECONDS = 2.0
TURNS_PER_CONVERSATION = 15  # 4 events a turn: 60 events
_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of process ``pid`` (and its waited-for children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / _TICK


def conversation(start: float) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for i in range(TURNS_PER_CONVERSATION):
        t = start + i * 10
        events += [
            {"event": "action", "name": "action_listen", "timestamp": t},
            {
                "event": "user",
                "timestamp": t + 1,
                "text": f"Moj paket številka {i} še ni prišel, kaj naj naredim?",
                "message_id": f"m{i}",
                "input_channel": "telegram",
                "parse_data": {
                    "intent": {"name": "order_status", "confidence": 0.93},
                    "entities": [],
                    "language": {"language": "sl", "confidence": 0.99},
                    "text": "…",
                },
            },
            {"event": "action", "name": "action_answer_from_kb", "timestamp": t + 2},
            {
                "event": "bot",
                "timestamp": t + 3,
                "text": "Sledenje paketu: vnesite številko na strani Moja naročila. " * 3,
                "metadata": {"kb_articles": ["order-tracking"], "language": "sl"},
            },
        ]
    return events


def draft(cid: str, start: float) -> TicketDraft:
    when = datetime.fromtimestamp(start + TURNS_PER_CONVERSATION * 10, tz=timezone.utc)
    return TicketDraft(
        conversation_id=cid,
        channel="telegram",
        customer_id=cid,
        language="sl",
        reason="asked_for_human",
        queue="orders-sl",
        transcript=[Turn(when, "customer", "operater", "sl", message_id="handoff")],
    )


async def measure(
    bot: Bot, store: SQLiteTicketStore, events: TrackerEvents | None, polls: int,
    ids: list[str], new_message: bool,
) -> dict[str, float]:
    client = RasaClient(bot.config.rasa_url, bot.config.rasa_token)
    inbox = Inbox(
        store, client, clock=lambda: datetime.now(timezone.utc), tracker_events=events
    )
    rasa_pid = bot._procs["rasa"].pid
    try:
        await inbox.sync_open()  # the first poll reads everything once (both ways)
        rasa0, own0, wall0 = cpu_seconds(rasa_pid), time.process_time(), time.monotonic()
        for n in range(polls):
            if new_message:
                await client.append_events(
                    ids[n % len(ids)],
                    [{"event": "user", "text": f"Še vedno čakam {n}", "timestamp": time.time(),
                      "message_id": f"bench-{n}-{time.time()}", "input_channel": "telegram",
                      "parse_data": {"intent": {"name": "inform", "confidence": 0.9}}}],
                    "bench: a customer message",
                )
            await inbox.sync_open()
        rasa1, own1, wall1 = cpu_seconds(rasa_pid), time.process_time(), time.monotonic()
    finally:
        await client.aclose()
    per_poll = ((rasa1 - rasa0) + (own1 - own0)) / polls
    return {
        "rasa_ms": 1000 * (rasa1 - rasa0) / polls,
        "inbox_ms": 1000 * (own1 - own0) / polls,
        "cpu_ms": 1000 * per_poll,
        "core_pct": 100 * per_poll / POLL_SECONDS,
        "wall_ms": 1000 * (wall1 - wall0) / polls,
    }


async def bench(bot: Bot, folder: Path, sizes: list[int], polls: int) -> list[str]:
    rows: list[str] = []
    client = RasaClient(bot.config.rasa_url, bot.config.rasa_token)
    start = time.time() - 86_400
    ids = [f"telegram:{900_000 + i}" for i in range(max(sizes))]
    try:
        for cid in ids:
            await client.append_events(cid, conversation(start), "bench: write a conversation")
            await client.pause(cid)
    finally:
        await client.aclose()
    for size in sizes:
        store = SQLiteTicketStore(folder / f"tickets-{size}.sqlite3")
        for cid in ids[:size]:
            store.create(draft(cid, start))
        for new_message in (False, True):
            for name in ("http", "sql"):
                reader = TrackerEvents.sqlite(bot.config.tracker_db) if name == "sql" else None
                r = await measure(bot, store, reader, polls, ids[:size], new_message)
                if reader is not None:
                    reader.close()
                traffic = "1 new message a poll" if new_message else "idle"
                rows.append(
                    f"| {size} | {traffic} | {name} | {r['rasa_ms']:.1f} | {r['inbox_ms']:.1f} "
                    f"| {r['cpu_ms']:.1f} | {r['core_pct']:.1f} % | {r['wall_ms']:.0f} |"
                )
                print(rows[-1], flush=True)
        store.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tickets", type=int, nargs="+", default=[10, 40])
    parser.add_argument("--polls", type=int, default=15)
    args = parser.parse_args()
    context = stamp()
    with tempfile.TemporaryDirectory(prefix="inbox_sync_") as tmp:
        folder = Path(tmp)
        config = BotConfig.isolated(
            folder,
            write_isolated_copy(folder),
            serve_inbox=False,
            serve_web=False,
            extra_env={"SUPPORTBOT_FAKE_NOW": "2026-11-25T10:00:00+01:00"},
        )
        with Bot(config) as bot:
            rows = asyncio.run(bench(bot, folder, args.tickets, args.polls))
    table = "\n".join(
        [
            "| open tickets | traffic | reader | Rasa CPU ms/poll | inbox CPU ms/poll "
            "| total CPU ms/poll | % of a core at 2 s | wall ms/poll |",
            "|---:|---|---|---:|---:|---:|---:|---:|",
            *rows,
        ]
    )
    out = RESULTS / "inbox_sync.md"
    out.write_text(
        "# Inbox ticket sync: CPU per poll\n\n"
        f"`bench/inbox_sync.py --tickets {' '.join(map(str, args.tickets))} --polls "
        f"{args.polls}`; {context}. Each conversation holds "
        f"{TURNS_PER_CONVERSATION * 4} events; `http` = whole trackers over Rasa's API "
        "(before), `sql` = new rows from Rasa's SQL tracker store (after). The rows with "
        "a new message include Rasa recording that message through its API (about 35 ms "
        "of Rasa CPU), which both readers pay alike. The machine was shared: CPU time per "
        "process is what is compared; wall times include waiting for a core.\n\n"
        f"{table}\n",
        encoding="utf-8",
    )
    print(f"written {out}")


if __name__ == "__main__":
    main()

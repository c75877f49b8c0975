"""Run in the Rasa environment (.venv-rasa): Rasa's own SQLTrackerStore on a SQLite file,
appending events as the Rasa server does when it saves a tracker. Used by
test_tracker_events.py to check that the inbox reads what Rasa writes.

argv[1]: the database file. stdin: one JSON line per save, ``{"sender": …, "events":
[…]}`` (events as Rasa's HTTP API shows them); stdout: ``saved <n>`` per line.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys


async def main(db: str) -> None:
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import Event

    store = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=db)
    print("ready", flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        tracker = await store.get_or_create_tracker(request["sender"])
        for raw in request["events"]:
            tracker.update(Event.from_parameters(raw))
        await store.save(tracker)
        print(f"saved {len(request['events'])}", flush=True)


if __name__ == "__main__":
    logging.disable(logging.CRITICAL)
    asyncio.run(main(sys.argv[1]))

"""Full REST turns under load: p50/p95/p99 and throughput at 1, 8, 32 conversations.

Starts the bot exactly as `make run` does (bot.run.Bot: Rasa server + action server,
free ports, fresh tracker and ticket databases, the clock pinned to opening hours),
then for each concurrency level runs that many conversations at once, each sending
labelled customer questions (bench/data/kb_questions.yml, en/ar/sl in turn) one after
the other over the web chat REST webhook: language → NLU → action server (KB search)
→ reply. A turn's latency is request to full reply; throughput is turns completed per
wall-clock second of the level. Also reports start-up time and each process's peak
resident memory (VmHWM).

"With translation" rows send German messages, which need the translation component
(bot/translate.py) and the tiny de↔en fixture models (tests/fixtures/argos/); while
those are not in the tree the rows say so instead of a number.

    .venv/bin/python bench/latency.py [--levels 1 8 32] [--turns 96]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import metrics
from bench.common import RESULTS, ROOT, stamp
from bot.run import Bot, BotConfig, free_port

#: Wednesday 10:00 in Ljubljana: support is open, as in tests/e2e.
OPEN_NOW = "2026-11-25T10:00:00+01:00"
TRANSLATION_PARTS = (
    ROOT / "bot" / "translate.py",
    ROOT / "tests" / "fixtures" / "argos",
)


def write_settings(folder: Path) -> Path:
    """supportbot.yml with absolute paths and a fresh ticket database in ``folder``."""
    data = yaml.safe_load((ROOT / "supportbot.yml").read_text(encoding="utf-8"))
    kb = data["knowledge_base"]
    for key in ("articles", "index_dir", "model"):
        kb[key] = str((ROOT / kb[key]).resolve())
    data["tickets"]["database"] = str(folder / "tickets.sqlite3")
    path = folder / "supportbot.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of a running process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class Level:
    """Timings of one concurrency level."""

    conversations: int
    latencies_ms: list[float]
    seconds: float
    errors: int

    def row(self, label: str) -> str:
        lat = self.latencies_ms
        return (
            f"| {label} | {self.conversations} | {len(lat)} | "
            f"{metrics.percentile(lat, 50):.0f} | {metrics.percentile(lat, 95):.0f} | "
            f"{metrics.percentile(lat, 99):.0f} | "
            f"{metrics.throughput(len(lat), self.seconds):.1f} | {self.errors} |"
        )


async def run_level(
    url: str, messages: list[str], conversations: int, turns: int, tag: str
) -> Level:
    """``conversations`` senders at once, ``turns`` messages in all, each in order."""
    per_conversation = max(1, turns // conversations)
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=conversations + 4)

    async def conversation(client: httpx.AsyncClient, n: int) -> None:
        nonlocal errors
        for turn in range(per_conversation):
            text = messages[(n * per_conversation + turn) % len(messages)]
            start = time.perf_counter()
            resp = await client.post(
                url, json={"sender": f"{tag}-{n}", "message": text}
            )
            elapsed = (time.perf_counter() - start) * 1000
            if resp.status_code != 200 or not resp.json():
                errors += 1  # no reply is a failed turn, not a fast one
                continue
            latencies.append(elapsed)

    async with httpx.AsyncClient(timeout=300, limits=limits) as client:
        start = time.perf_counter()
        await asyncio.gather(*(conversation(client, n) for n in range(conversations)))
        seconds = time.perf_counter() - start
    return Level(conversations, latencies, seconds, errors)


def translation_missing() -> list[Path]:
    return [p for p in TRANSLATION_PARTS if not p.exists()]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument(
        "--turns",
        type=int,
        default=96,
        help="turns per level (split among its conversations)",
    )
    parser.add_argument("--out", default=str(RESULTS / "latency.md"))
    args = parser.parse_args()
    header = stamp()
    questions = yaml.safe_load((ROOT / "bench/data/kb_questions.yml").read_text())[
        "questions"
    ]
    # en, ar, sl in turn, so every level sees the same language mix
    by_lang: dict[str, list[str]] = {}
    for q in questions:
        by_lang.setdefault(q["lang"], []).append(q["text"])
    messages = [t for triple in zip(*by_lang.values(), strict=False) for t in triple]
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp_name:
        tmp = Path(tmp_name)
        config = BotConfig(
            rasa_port=free_port(),
            action_port=free_port(),
            web_port=free_port(),
            tracker_db=tmp / "tracker.sqlite3",
            log_dir=tmp / "log",
            settings_file=write_settings(tmp),
            serve_web=False,
            extra_env={"SUPPORTBOT_FAKE_NOW": OPEN_NOW},
        )
        start = time.perf_counter()
        bot = Bot(config).start()
        startup = time.perf_counter() - start
        try:
            url = f"{config.rasa_url}/webhooks/webchat/webhook"
            # warm-up: first NLU parse, first KB search and first SQL writes are slower
            asyncio.run(run_level(url, messages, 3, 9, "warm"))
            levels = []
            for n in args.levels:
                level = asyncio.run(run_level(url, messages, n, args.turns, f"c{n}"))
                print(level.row("native (en/ar/sl)"), flush=True)
                levels.append(level)
            memory = {name: peak_rss_mb(pid) for name, pid in bot.pids().items()}
        finally:
            bot.stop()
    missing = translation_missing()
    lines = [
        "# One REST turn under load",
        "",
        f"{header}. Web chat webhook → language → NLU → action server (KB search) → "
        "reply, "
        f"bot started with bot.run.Bot; each conversation sends its messages one after "
        f"another, the conversations run at once. Latency: request to full reply. "
        f"Throughput: turns completed per second of the level's wall time.",
        "",
        "| messages | concurrent conversations | turns | p50 ms | p95 ms | p99 ms | "
        "turns/s | failed turns |",
        "|---|---|---|---|---|---|---|---|",
        *[level.row("native (en/ar/sl)") for level in levels],
    ]
    if missing:
        lines.append("| with translation (de → en) | TODO | | | | | | |")
        lines += [
            "",
            "TODO with translation: not measured yet — "
            + ", ".join(str(p.relative_to(ROOT)) for p in missing)
            + " not in the tree (being built in parallel).",
        ]
    lines += [
        "",
        f"Start-up until both servers answer: {startup:.0f} s. Peak RSS after the run: "
        + ", ".join(f"{k} {v:.0f} MiB" for k, v in memory.items()),
        "",
    ]
    text = "\n".join(lines)
    print(text)
    Path(args.out).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Latency of one REST turn (p50/p95) and the memory of the running bot.

Starts the bot exactly as `make run` does (bot.run.Bot, free ports, fresh tracker and
ticket databases), sends labelled customer questions in en/ar/sl one at a time over the
webchat REST webhook, and reads each process's peak resident memory (VmHWM) from /proc.

    .venv/bin/python bench/latency.py [--turns 150]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.run import Bot, BotConfig, free_port  # noqa: E402


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
    """Peak RSS of a process and its children's current RSS, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p * (len(xs) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=150)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "latency.md"))
    args = parser.parse_args()
    questions = yaml.safe_load((ROOT / "bench/data/kb_questions.yml").read_text())["questions"]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        config = BotConfig(
            rasa_port=free_port(), action_port=free_port(), web_port=free_port(),
            tracker_db=tmp / "tracker.sqlite3", log_dir=tmp / "log",
            settings_file=write_settings(tmp), serve_web=False,
        )
        start = time.perf_counter()
        bot = Bot(config).start()
        startup = time.perf_counter() - start
        try:
            url = f"{config.rasa_url}/webhooks/webchat/webhook"
            times: dict[str, list[float]] = defaultdict(list)
            with httpx.Client(timeout=60) as client:
                client.post(url, json={"sender": "warm", "message": "hello"})
                for i in range(args.turns):
                    q = questions[i % len(questions)]
                    t0 = time.perf_counter()
                    r = client.post(url, json={"sender": f"bench-{i // 3}", "message": q["text"]})
                    times[q["lang"]].append((time.perf_counter() - t0) * 1000)
                    r.raise_for_status()
            memory = {name: peak_rss_mb(pid) for name, pid in bot.pids().items()}
        finally:
            bot.stop()
    allt = [t for v in times.values() for t in v]
    lines = [
        f"One REST turn, webchat webhook → NLU → action server (KB search) → reply "
        f"({os.cpu_count()} CPUs, {len(allt)} sequential turns)",
        "",
        "| language | turns | p50 ms | p95 ms |",
        "|---|---|---|---|",
        *[f"| {lang} | {len(v)} | {statistics.median(v):.0f} | {pct(v, .95):.0f} |"
          for lang, v in sorted(times.items())],
        f"| all | {len(allt)} | {statistics.median(allt):.0f} | {pct(allt, .95):.0f} |",
        "",
        f"Start-up until both servers answer: {startup:.0f} s. Peak RSS: "
        + ", ".join(f"{k} {v:.0f} MiB" for k, v in memory.items()),
        "",
    ]
    text = "\n".join(lines)
    print(text)
    Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

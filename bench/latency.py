"""Full REST turns under load: p50/p95/p99 and throughput at 1, 8, 32 conversations.

Starts the bot exactly as `make run` does (bot.run.Bot: Rasa server + action server,
free ports, fresh tracker and ticket databases, the clock pinned to opening hours),
then for each concurrency level runs that many conversations at once, each sending
labelled customer questions (bench/data/kb_questions.yml, en/ar/sl in turn) one after
the other over the web chat REST webhook: language → NLU → action server (KB search)
→ reply. A turn's latency is request to full reply; throughput is turns completed per
wall-clock second of the level. Also reports start-up time and each process's peak
resident memory (VmHWM).

The German rows send the phrases the tiny de↔en fixture packages know
(tests/fixtures/argos/, installed with ``python -m bot models install`` into a temporary
packages folder): translated to English for NLU, the reply translated back. They need
bot.nlu.translation.Translator in config.yml's pipeline (and a model trained with it);
until then the table says why instead of a number.

    .venv/bin/python bench/latency.py [--levels 1 8 32] [--turns 96]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import metrics
from bench.common import RESULTS, ROOT, stamp
from bot.run import Bot, BotConfig

#: Wednesday 10:00 in Ljubljana: support is open, as in tests/e2e.
OPEN_NOW = "2026-11-25T10:00:00+01:00"
#: German phrases the tiny de↔en fixture packages know, and the packages themselves.
PHRASES = ROOT / "tests" / "fixtures" / "argos" / "phrases.py"
TRANSLATOR = ROOT / "bot" / "nlu" / "translation.py"
NATIVE = "native (en/ar/sl)"
TRANSLATED = "German, translated de→en→de"
SAME_ENGLISH = "the same phrases in English (no translation)"


def load_phrases() -> Any | None:
    """The fixture phrase module (read as data, by path), or None while missing."""
    if not PHRASES.is_file():
        return None
    spec = importlib.util.spec_from_file_location("argos_phrases", PHRASES)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def translation_blocker(phrases: Any | None) -> str | None:
    """Why the German rows cannot be measured, or None when they can."""
    if phrases is None or not TRANSLATOR.is_file():
        return "bot/nlu/translation.py or tests/fixtures/argos/phrases.py missing"
    missing = [p for p in (phrases.DE_EN_PACKAGE, phrases.EN_DE_PACKAGE) if not p.is_file()]
    if missing:
        return "fixture packages not built: " + ", ".join(p.name for p in missing)
    config = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))
    if not any(step["name"] == "bot.nlu.translation.Translator" for step in config["pipeline"]):
        return "config.yml's pipeline has no bot.nlu.translation.Translator yet"
    return None


def write_settings(folder: Path, translation: bool) -> Path:
    """supportbot.yml with absolute paths; tickets and packages in ``folder``."""
    from bot.settings import write_isolated_copy

    if translation:
        return write_isolated_copy(folder, translation={"packages_dir": str(folder / "packages")})
    return write_isolated_copy(folder)


def install_packages(settings: Path, packages: list[Path]) -> None:
    """The operator's command, as in tests/e2e/test_translation.py."""
    env = {k: v for k, v in os.environ.items() if k != "SUPPORTBOT_CONFIG"}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "--config",
            str(settings),
            "models",
            "install",
            *map(str, packages),
        ],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )


def was_translated(config: BotConfig, sender: str) -> bool:
    """Whether the sender's last user message went through the translator (tracker)."""
    resp = httpx.get(
        f"{config.rasa_url}/conversations/{sender}/tracker",
        params={"token": config.rasa_token},
        timeout=60,
    )
    resp.raise_for_status()
    users = [e for e in resp.json()["events"] if e.get("event") == "user"]
    return bool(users and (users[-1].get("parse_data") or {}).get("translation"))


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
            resp = await client.post(url, json={"sender": f"{tag}-{n}", "message": text})
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
    questions = yaml.safe_load((ROOT / "bench/data/kb_questions.yml").read_text())["questions"]
    # en, ar, sl in turn, so every level sees the same language mix
    by_lang: dict[str, list[str]] = {}
    for q in questions:
        by_lang.setdefault(q["lang"], []).append(q["text"])
    messages = [t for triple in zip(*by_lang.values(), strict=False) for t in triple]
    phrases = load_phrases()
    blocker = translation_blocker(phrases)
    german = list(phrases.DE_EN) if phrases is not None and blocker is None else []
    rows: list[tuple[str, Level]] = []
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp_name:
        tmp = Path(tmp_name)
        settings = write_settings(tmp, translation=bool(german))
        if german:
            install_packages(settings, [phrases.DE_EN_PACKAGE, phrases.EN_DE_PACKAGE])
        config = BotConfig.isolated(
            tmp,
            settings,
            serve_web=False,
            extra_env={"SUPPORTBOT_FAKE_NOW": OPEN_NOW},
        )
        start = time.perf_counter()
        bot = Bot(config).start()
        startup = time.perf_counter() - start
        try:
            url = f"{config.rasa_url}/webhooks/webchat/webhook"
            # warm-up: first NLU parse, KB search, translation and SQL writes are slower
            asyncio.run(run_level(url, messages, 3, 9, "warm"))
            if german:
                asyncio.run(run_level(url, german, 1, 3, "warm-de"))
                if not was_translated(config, "warm-de-0"):
                    blocker = "the German warm-up turn was not translated (see log)"
                    german = []
            # The German phrases are mostly greetings and thanks (no KB search), so
            # their English originals are the baseline that isolates translation.
            english = [phrases.DE_EN[g] for g in german]
            series = (
                (NATIVE, messages, "c"),
                (TRANSLATED, german, "de"),
                (SAME_ENGLISH, english, "en"),
            )
            for label, texts, prefix in series:
                for n in args.levels if texts else []:
                    tag = f"{prefix}{n}"
                    level = asyncio.run(run_level(url, texts, n, args.turns, tag))
                    print(level.row(label), flush=True)
                    rows.append((label, level))
            memory = {name: peak_rss_mb(pid) for name, pid in bot.pids().items()}
        finally:
            bot.stop()
    lines = [
        "# One REST turn under load",
        "",
        f"{header}. Web chat webhook → language → NLU → action server (KB search) → "
        "reply, bot started with bot.run.Bot; each conversation sends its messages one "
        "after another, the conversations run at once. Latency: request to full reply. "
        "Throughput: turns completed per second of the level's wall time. German: the "
        f"{len(phrases.DE_EN) if phrases else 0} phrases the tiny fixture packages "
        "know "
        "(tests/fixtures/argos), translated to English for NLU and the reply back to "
        "German (CTranslate2 in both servers); the models are tiny, so this measures "
        "the plumbing's cost, not a production model's. Those phrases are mostly "
        "greetings and thanks (no KB search): compare them with the same phrases in "
        "English, not with the native KB questions.",
        "",
        "| messages | concurrent conversations | turns | p50 ms | p95 ms | p99 ms | "
        "turns/s | failed turns |",
        "|---|---|---|---|---|---|---|---|",
        *[level.row(label) for label, level in rows],
    ]
    if blocker:
        lines += [
            f"| {TRANSLATED} | TODO | | | | | | |",
            "",
            f"TODO with translation: not measured — {blocker}.",
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

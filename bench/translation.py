"""Translation latency per message (p50/p95), throughput, and the cost per turn.

Measures bot/translate.py's Translator over installed argos packages, with both engines
(CTranslate2 + SentencePiece directly, as the Rasa server runs it, and argostranslate
itself), cache off so every call does the work:

* per message: one customer message (de→en) or one bot text (en→de) at a time;
* throughput: the same texts sent as batches of 16;
* per turn: what the translation path adds to one conversation turn, i.e. translating
  the customer's message to the pivot plus the bot's reply back, cold (cache off) and
  warm (the reply template already cached, as for repeated responses).

By default it uses the tiny fixture models (tests/fixtures/argos: ~0.3 M parameters, so
the numbers are a floor for the machinery, not for real models). Give real ones with
``--model FILE.argosmodel`` (repeatable); texts then come from ``--texts FILE`` (one
per line, in the model's source language) or default to the fixture phrases.

    .venv/bin/python bench/translation.py [--repeat 20]
    .venv/bin/python bench/translation.py --model translate-de_en-1_9.argosmodel \
        --texts my_german_messages.txt

Writes bench/results/translation.md (with CPU count, date and load).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import metrics
from bench.common import RESULTS, ROOT, stamp
from bot.translate import (
    TranslationSettings,
    Translator,
    install_package,
)

_spec = importlib.util.spec_from_file_location(
    "argos_phrases", ROOT / "tests" / "fixtures" / "argos" / "phrases.py"
)
assert _spec and _spec.loader
phrases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(phrases)

ENGINES = ("ctranslate2", "argostranslate")
BATCH = 16


@dataclass(frozen=True)
class Row:
    what: str
    engine: str
    n: int
    p50: float
    p95: float
    per_second: float


def timed(func: Callable[[], object]) -> float:
    started = time.perf_counter()
    func()
    return (time.perf_counter() - started) * 1000


def per_message(
    translator: Translator, texts: Sequence[str], source: str, target: str, repeat: int
) -> tuple[list[float], float]:
    """Latencies (ms) of single-text calls, and batched throughput (texts/s)."""
    translator.translate(texts[0], source, target)  # load the model outside the timing
    latencies = [
        timed(lambda t=t: translator.translate(t, source, target))
        for _ in range(repeat)
        for t in texts
    ]
    batches = [list(texts) * (BATCH // len(texts) + 1)][0][:BATCH]
    started = time.perf_counter()
    for _ in range(repeat):
        translator.translate_batch(batches, source, target)
    seconds = time.perf_counter() - started
    return latencies, metrics.throughput(repeat * len(batches), seconds)


def per_turn(
    translator: Translator, turns: Sequence[tuple[str, str]], repeat: int
) -> list[float]:
    """Inbound (de→en) plus outbound (en→de) translation per conversation turn."""
    return [
        timed(
            lambda m=message, r=reply: (
                translator.translate(m, "de", "en"),
                translator.translate(r, "en", "de"),
            )
        )
        for _ in range(repeat)
        for message, reply in turns
    ]


def fixture_turns() -> list[tuple[str, str]]:
    """The e2e conversation: German message → the English text the bot answers with."""

    from kb_index.articles import load_articles

    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))

    def response(name: str) -> str:
        return next(
            v["text"] for v in domain["responses"][name] if not v.get("condition")
        )

    arts = {a.id: a for a in load_articles(ROOT / "data" / "kb", ["en", "ar", "sl"])}

    def article(aid: str) -> str:
        return f"{arts[aid].title['en']}\n\n{arts[aid].body['en']}"

    return [
        ("Hallo, guten Tag", response("utter_greet")),
        ("Wie lange dauert der Versand?", article("shipping-times")),
        ("Wo ist meine Bestellung?", article("order-status")),
        ("Danke schön", response("utter_you_are_welcome")),
        (
            "Ich möchte mit einem Menschen sprechen",
            response("utter_ticket_created").replace("{ticket_ref}", "LU-000001"),
        ),
    ]


#: The e2e conversation in English: the same intents without translation.
ENGLISH_TURNS = (
    "Hello, good morning",
    "How long does delivery take?",
    "Where is my order?",
    "Thank you",
)
GERMAN_TURNS = (
    "Hallo, guten Tag",
    "Wie lange dauert der Versand?",
    "Wo ist meine Bestellung?",
    "Danke schön",
)


def rest_turns(folder: Path, repeat: int) -> dict[str, list[float]]:
    """REST turn latency (ms) of the same conversation in English and in German.

    Starts the bot as ``make run`` does, with translation.packages_dir = ``folder``;
    each conversation is a fresh sender so the greeting notice is part of it.
    """
    import httpx

    from bot.run import Bot, BotConfig
    from bot.settings import write_isolated_copy

    tmp = folder.parent
    # cache_size 0: every German turn pays for translation
    settings = write_isolated_copy(
        tmp, translation={"packages_dir": str(folder), "cache_size": 0}
    )
    config = BotConfig.isolated(
        tmp,
        settings,
        serve_web=False,
        serve_inbox=False,
        extra_env={"SUPPORTBOT_FAKE_NOW": "2026-11-25T10:00:00+01:00"},
    )
    out: dict[str, list[float]] = {"en": [], "de": []}
    with Bot(config) as bot, httpx.Client(timeout=60) as client:
        url = f"{bot.config.rasa_url}/webhooks/webchat/webhook"
        for i in range(repeat + 1):  # the first round warms both paths up
            for language, turns in (("en", ENGLISH_TURNS), ("de", GERMAN_TURNS)):
                for text in turns:
                    started = time.perf_counter()
                    client.post(
                        url, json={"sender": f"{language}-{i}", "message": text}
                    )
                    if i:
                        out[language].append((time.perf_counter() - started) * 1000)
    return out


def row(what: str, engine: str, values: list[float], per_second: float = 0.0) -> Row:
    return Row(
        what,
        engine,
        len(values),
        metrics.percentile(values, 50),
        metrics.percentile(values, 95),
        per_second,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model",
        type=Path,
        action="append",
        default=[],
        help="a real .argosmodel to measure (repeatable)",
    )
    parser.add_argument("--texts", type=Path, help="texts for --model, one per line")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    parser.add_argument("--out", type=Path, default=RESULTS / "translation.md")
    parser.add_argument(
        "--rest",
        type=int,
        default=10,
        metavar="ROUNDS",
        help="also time REST turns through a started bot (0: skip)",
    )
    args = parser.parse_args(argv)
    context = stamp()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "packages"
        if args.model:
            infos = [install_package(m, folder)[0] for m in args.model]
            custom = (
                [
                    line.strip()
                    for line in args.texts.read_text("utf-8").splitlines()
                    if line.strip()
                ]
                if args.texts
                else None
            )
        else:
            infos = [
                install_package(p, folder)[0]
                for p in (phrases.DE_EN_PACKAGE, phrases.EN_DE_PACKAGE)
            ]
            custom = None
        for engine in args.engines:
            cold = Translator(
                TranslationSettings(packages_dir=folder, cache_size=0), engine=engine
            )
            for info in infos:
                source, target = info.from_code, info.to_code
                if custom is not None:
                    texts = custom
                elif (source, target) == ("de", "en"):
                    texts = list(phrases.DE_EN)
                else:
                    texts = [reply for _, reply in fixture_turns()]
                latencies, per_second = per_message(
                    cold, texts, source, target, args.repeat
                )
                rows.append(
                    row(f"message {source}→{target}", engine, latencies, per_second)
                )
            if not args.model:
                rows.append(
                    row(
                        "turn: de→en in + en→de out, cold",
                        engine,
                        per_turn(cold, fixture_turns(), args.repeat),
                    )
                )
                warm = Translator(
                    TranslationSettings(packages_dir=folder), engine=engine
                )
                per_turn(warm, fixture_turns(), 1)  # fill the cache
                rows.append(
                    row(
                        "turn: de→en in + en→de out, cached",
                        engine,
                        per_turn(warm, fixture_turns(), args.repeat),
                    )
                )
        if args.rest and not args.model:
            rest = rest_turns(folder, args.rest)
            for language in ("en", "de"):
                label = "translated (de)" if language == "de" else "native (en)"
                rows.append(row(f"REST turn, {label}", "bot", rest[language]))
    models = ", ".join(str(m) for m in args.model) or (
        "tiny fixture models tests/fixtures/argos/translate-{de_en,en_de}-tiny "
        "(~0.35 M parameters, int8)"
    )
    lines = [
        f"Translation latency ({context})",
        "",
        f"Models: {models}. Cache off unless the row says cached; throughput: batches "
        f"of {BATCH} texts. English bot texts include two whole KB articles (4–5 "
        "sentences each).",
        "",
        "| what | engine | calls | p50 ms | p95 ms | texts/s (batched) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        tput = f"{r.per_second:.0f}" if r.per_second else ""
        lines.append(
            f"| {r.what} | {r.engine} | {r.n} | {r.p50:.2f} | {r.p95:.2f} | {tput} |"
        )
    lines += [
        "",
        "A turn's translation path is the inbound message (Rasa server, NLU component) "
        "plus the reply (Rasa server NLG, or the action server for KB articles); both "
        "run in-process, so this is what translation adds to a REST turn. The REST "
        "rows send the same four-turn conversation (greeting, two KB questions, "
        "thanks) in English and in German through a started bot (webchat webhook → "
        "NLU → action server → reply), translation cache off; their difference is the "
        "end-to-end cost.",
        "",
    ]
    text = "\n".join(lines)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

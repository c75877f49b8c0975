"""Language identification on short support-chat messages: accuracy and speed.

Usage (from the project root, in the 3.11 environment):

    .venv/bin/python bench/lid.py             # table to stdout and bench/results/lid.md
    .venv/bin/python bench/lid.py --errors    # also list our detector's mistakes

Data: bench/data/lid_short.tsv (lang<TAB>text), 1-8 word informal messages. Croatian,
Serbian (Latin) and Bosnian are scored as one group "hbs". The set is split into two
halves (alternate rows per language): "tune" was used while tuning bot/language.py,
"holdout" was not; both are reported. The configured languages are read from
supportbot.yml (`languages:`), as the bot uses them.
"""

from __future__ import annotations

import argparse
import csv
import platform
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import stamp  # noqa: E402
from bot.language import (  # noqa: E402
    GROUP_CODE,
    GROUP_MEMBERS,
    LanguageDetector,
    LanguageSettings,
)
from bot.settings import load_settings  # noqa: E402

DATA = ROOT / "bench" / "data" / "lid_short.tsv"
RESULT = ROOT / "bench" / "results" / "lid.md"
LANGS = ["en", "ar", "sl", GROUP_CODE, "de"]
REPEATS = 5

Predict = Callable[[str], "str | None"]


def group(code: str | None) -> str | None:
    if code is None:
        return None
    code = code.split("-")[0].lower()
    return GROUP_CODE if code in GROUP_MEMBERS else code


def load_rows() -> list[tuple[str, str, str]]:
    """(gold, text, half) with half "tune" or "holdout", alternating per language."""
    rows = []
    seen: dict[str, int] = defaultdict(int)
    with DATA.open(encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            lang = row["lang"]
            half = "tune" if seen[lang] % 2 == 0 else "holdout"
            seen[lang] += 1
            rows.append((group(lang) or "", row["text"], half))
    return rows


def make_methods(settings: LanguageSettings) -> dict[str, Predict]:
    from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory
    from langdetect.lang_detect_exception import LangDetectException
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    configured = {group(c) for c in settings.supported + settings.also_detect}
    factory = DetectorFactory()
    factory.load_profile(PROFILES_DIRECTORY)
    factory.set_seed(0)

    def langdetect_probs(text: str) -> list[tuple[str, float]]:
        detector = factory.create()
        detector.append(text)
        try:
            return [(p.lang, p.prob) for p in detector.get_probabilities()]
        except LangDetectException:
            return []

    def langdetect_all(text: str) -> str | None:
        probs = langdetect_probs(text)
        return group(probs[0][0]) if probs else None

    def langdetect_restricted(text: str) -> str | None:
        for lang, _ in langdetect_probs(text):
            if group(lang) in configured:
                return group(lang)
        return None

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    labels = set()
    for code in settings.supported + settings.also_detect:
        labels |= GROUP_MEMBERS if group(code) == GROUP_CODE else {code}
    identifier.set_languages(sorted(labels))

    def py3langid_restricted(text: str) -> str | None:
        return group(identifier.classify(text)[0])

    ours = LanguageDetector.from_settings(settings)
    ours2 = LanguageDetector.from_settings(settings, second_opinion=True)
    ours.warm_up()
    ours2.warm_up()
    return {
        "langdetect, all 55 languages": langdetect_all,
        "langdetect, restricted": langdetect_restricted,
        "py3langid, restricted": py3langid_restricted,
        "**LanguageDetector** (bot/language.py)": lambda t: ours.detect(t).language,
        "LanguageDetector + langdetect opinion": lambda t: ours2.detect(t).language,
    }


def evaluate(
    methods: dict[str, Predict], rows: list[tuple[str, str, str]]
) -> tuple[dict, dict, dict]:
    correct: dict = defaultdict(int)
    total: dict = defaultdict(int)
    errors: dict = defaultdict(list)
    speed: dict = {}
    for name, predict in methods.items():
        for gold, text, half in rows:
            predicted = group(predict(text))
            for key in ((name, half, gold), (name, half, "all")):
                total[key] += 1
                correct[key] += predicted == gold
            if predicted != gold:
                errors[name].append((half, gold, predicted, text))
        start = time.perf_counter()
        for _ in range(REPEATS):
            for _, text, _ in rows:
                predict(text)
        speed[name] = (time.perf_counter() - start) * 1000 / (REPEATS * len(rows))
    accuracy = {k: correct[k] / total[k] for k in total}
    return accuracy, speed, errors


def table(methods, accuracy, speed, rows) -> str:
    count = defaultdict(int)
    for gold, _, half in rows:
        count[half, gold] += 1
    lines = []
    for half in ("tune", "holdout"):
        n = sum(v for (h, _), v in count.items() if h == half)
        head = " | ".join(f"{lang} ({count[half, lang]})" for lang in LANGS)
        lines += [
            f"**{half} half** ({n} messages)",
            "",
            f"| method | {head} | all | ms/msg |",
            "|---" * (len(LANGS) + 3) + "|",
        ]
        for name in methods:
            cells = " | ".join(f"{accuracy[name, half, lang]:.0%}" for lang in LANGS)
            lines.append(
                f"| {name} | {cells} | **{accuracy[name, half, 'all']:.1%}** "
                f"| {speed[name]:.3f} |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--errors", action="store_true", help="list our mistakes")
    parser.add_argument(
        "--half",
        choices=["tune", "holdout", "both"],
        default="tune",
        help="which half's mistakes --errors lists (default: tune)",
    )
    args = parser.parse_args(argv)

    settings = LanguageSettings.from_section(load_settings().section("languages"))
    rows = load_rows()
    methods = make_methods(settings)
    accuracy, speed, errors = evaluate(methods, rows)
    configured = ", ".join(settings.supported + settings.also_detect)
    ours = LanguageDetector.from_settings(settings)
    detections = [(gold, text, ours.detect(text)) for gold, text, _ in rows]
    wrong = [(t, d) for gold, t, d in detections if group(d.language) != gold]
    switching = [
        (t, d)
        for t, d in wrong
        if d.confidence >= settings.switch_confidence
        and d.words >= settings.min_words_to_switch
    ]
    report = "\n".join(
        [
            "# Language identification on short chat messages",
            "",
            f"Data: `{DATA.relative_to(ROOT)}`, {len(rows)} messages of 1-8 words; "
            "hr/sr/bs scored as one group `hbs`; a message with no answer counts as "
            f"wrong. Configured languages (supportbot.yml): {configured}. "
            f"Python {platform.python_version()}, ms/msg = mean of {REPEATS} passes "
            f"after warm-up; {stamp()}.",
            "",
            table(methods, accuracy, speed, rows),
            f"LanguageDetector's mistakes that would switch an established "
            f"conversation (confidence >= {settings.switch_confidence}, words >= "
            f"{settings.min_words_to_switch}): {len(switching)} of {len(wrong)}"
            + "".join(
                f"\n- `{t}` -> {d.language} ({d.confidence})" for t, d in switching
            )
            + ".",
        ]
    )
    print(report)
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(report + "\n", encoding="utf-8")
    if args.errors:
        name = next(n for n in methods if n.startswith("**"))
        print(f"Mistakes of {name} ({args.half}):")
        for half, gold, predicted, text in errors[name]:
            if args.half in (half, "both"):
                print(f"  {half:8} {gold:4} -> {predicted!s:5} {text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

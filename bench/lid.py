"""Language identification on single words, word pairs and short messages (issue 13).

Usage (from the project root, in the 3.11 environment):

    .venv/bin/python bench/lid.py            # tables to stdout and bench/results/lid.md
    .venv/bin/python bench/lid.py --errors   # also list the detector's sl/hbs mistakes

Data: bench/data/lid_eval.tsv (built by bench/lid_data.py; its docstring says where each
part comes from). Nothing in it is in the fitting set (bench/data/lid_fit.tsv) the
detector's weights were fitted on. hr/sr/bs are scored as one group "hbs"; undecided
(no language) counts as wrong. Every method is restricted to the configured languages
(supportbot.yml `languages:`). Memory is measured in a fresh Rasa-environment (3.10)
process: resident memory after importing the detector vs after warming it up and
detecting every message once.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
import types
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
#: The commit whose bot/language.py is "the previous detector" in the tables (before #13).
PREVIOUS_COMMIT = "8eb6c03"


def previous_language_module() -> Any:
    """bot/language.py as it was at :data:`PREVIOUS_COMMIT`, loaded from git history.

    The benchmark shows the old detector beside the new one in one run without keeping a
    frozen copy of ~600 lines in the tree; it needs a git checkout with that commit.
    """
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{PREVIOUS_COMMIT}:bot/language.py"],
        check=True, capture_output=True, text=True,
    ).stdout
    module = types.ModuleType("previous_language")
    module.__file__ = f"{PREVIOUS_COMMIT}:bot/language.py"
    sys.modules[module.__name__] = module  # dataclasses look their module up by name
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    return module

import numpy as np  # noqa: E402

from bench.common import RASA_PYTHON, stamp  # noqa: E402
from bot.language import GROUP_CODE, GROUP_MEMBERS, LanguageDetector, LanguageSettings  # noqa: E402
from bot.language.evidence import lingua_for, py3langid_for  # noqa: E402
from bot.language.text import prepare  # noqa: E402
from bot.language.vocab import Vocabulary, dictionary_code  # noqa: E402
from bot.settings import load_settings  # noqa: E402

DATA = ROOT / "bench" / "data" / "lid_eval.tsv"
RESULT = ROOT / "bench" / "results" / "lid.md"
KINDS = ("word", "pair", "message")
OURS = "**combined** (bot/language)"
GOALS = (
    "Goals (issue 13): pairs >= 95 % mean and >= 93 % sl; words >= 80 % mean and "
    ">= 75 % sl; hbs taken for sl <= 2 %; <= 1 ms per message; <= 150 MB."
)

Predict = Callable[[str], "str | None"]


def group(code: str | None) -> str | None:
    if code is None:
        return None
    code = code.split("-")[0].lower()
    return GROUP_CODE if code in GROUP_MEMBERS else code


def load_rows() -> list[tuple[str, str, str]]:
    with DATA.open(encoding="utf-8") as f:
        return [(r["lang"], r["kind"], r["text"]) for r in csv.DictReader(f, delimiter="\t")]


def make_methods(settings: LanguageSettings) -> dict[str, Predict]:
    """Each single source (restricted), the previous detector and the combination."""
    outputs = [group(c) for c in settings.supported + settings.also_detect]
    outputs = list(dict.fromkeys(c for c in outputs if c))
    labels = frozenset(
        m for c in outputs for m in (GROUP_MEMBERS if c == GROUP_CODE else {c})
    )
    identifier = py3langid_for(labels)
    lingua = lingua_for(labels)
    latin = [c for c in outputs if c not in ("ar", "ru")]
    vocabulary = Vocabulary([dictionary_code("hr" if c == GROUP_CODE else c) for c in latin])

    def dictionary_only(text: str) -> str | None:
        prep = prepare(text)
        if prep.dominant_script == "ARABIC":
            return "ar"
        if prep.dominant_script == "CYRILLIC":
            return "ru"
        if not prep.tokens:
            return None
        counts = vocabulary.known(prep.tokens).sum(axis=1)
        best = np.flatnonzero(counts == counts.max())
        return latin[best[0]] if counts.max() > 0 and len(best) == 1 else None

    def lingua_predict(text: str) -> str | None:
        found = lingua.detect_language_of(text)
        return found.iso_code_639_1.name.lower() if found else None

    old = previous_language_module()
    previous = old.LanguageDetector.from_settings(
        old.LanguageSettings(settings.supported, settings.default, settings.also_detect)
    )
    ours = LanguageDetector.from_settings(settings)
    previous.warm_up()
    ours.warm_up()
    return {
        "py3langid, restricted": lambda t: identifier.classify(t)[0],
        "lingua low-accuracy, restricted": lingua_predict,
        "dictionaries (simplemma) alone": dictionary_only,
        "previous detector (py3langid + markers)": lambda t: previous.detect(t).language,
        OURS: lambda t: ours.detect(t).language,
    }


def evaluate(methods: dict[str, Predict], rows: list[tuple[str, str, str]]) -> dict:
    results: dict = {}
    for name, predict in methods.items():
        right: dict = defaultdict(int)
        total: dict = defaultdict(int)
        undecided: dict = defaultdict(int)
        confusion: dict = defaultdict(int)
        mistakes = []
        start = time.process_time()
        predictions = [group(predict(text)) for _, _, text in rows]
        elapsed = time.process_time() - start
        for (gold, kind, text), predicted in zip(rows, predictions, strict=True):
            total[gold, kind] += 1
            right[gold, kind] += predicted == gold
            undecided[kind] += predicted is None
            confusion[gold, predicted, kind] += 1
            if predicted != gold and {gold, predicted} & {"sl", GROUP_CODE}:
                mistakes.append((kind, gold, predicted, text))
        results[name] = {
            "accuracy": {k: right[k] / total[k] for k in total},
            "undecided": {
                k: undecided[k] / sum(v for (_, kk), v in total.items() if kk == k)
                for k in KINDS
            },
            "confusion": confusion,
            "total": total,
            "ms": elapsed * 1000 / len(rows),
            "mistakes": mistakes,
        }
    return results


def memory_in_rasa_env() -> dict[str, float] | None:
    """RSS (MB) of a 3.10 process before and after warming up the detector."""
    if not RASA_PYTHON.exists():
        return None
    script = f"""
import json, sys
sys.path.insert(0, {str(ROOT)!r})
def rss():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS'):
            return int(line.split()[1]) / 1024
from bot.language import LanguageDetector, LanguageSettings
from bot.settings import load_settings
import numpy, csv
before = rss()
s = LanguageSettings.from_section(load_settings().section('languages'))
d = LanguageDetector.from_settings(s)
d.warm_up()
for row in csv.DictReader(open({str(DATA)!r}, encoding='utf-8'), delimiter='\\t'):
    d.detect(row['text'])
print(json.dumps({{'before': before, 'after': rss()}}))
"""
    done = subprocess.run(
        [str(RASA_PYTHON), "-c", script], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        print(done.stderr, file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def tables(results: dict, languages: list[str]) -> str:
    lines = []
    for kind in KINDS:
        counts = {lang: next(iter(results.values()))["total"][lang, kind] for lang in languages}
        head = " | ".join(f"{lang} ({counts[lang]})" for lang in languages)
        lines += [
            f"**{kind}s** (accuracy; undecided counts as wrong)",
            "",
            f"| method | {head} | mean | undecided |",
            "|---" * (len(languages) + 3) + "|",
        ]
        for name, r in results.items():
            acc = [r["accuracy"][lang, kind] for lang in languages]
            cells = " | ".join(f"{a:.1%}" for a in acc)
            lines.append(
                f"| {name} | {cells} | **{np.mean(acc):.1%}** | {r['undecided'][kind]:.1%} |"
            )
        lines.append("")
    lines += [
        "**sl <-> hbs confusion** (share of the row's language taken for the other)",
        "",
        "| method | "
        + " | ".join(f"sl->hbs {k} | hbs->sl {k}" for k in KINDS)
        + " | CPU ms/msg |",
        "|---" * (2 * len(KINDS) + 2) + "|",
    ]
    for name, r in results.items():
        cells = []
        for kind in KINDS:
            c, t = r["confusion"], r["total"]
            cells.append(f"{c['sl', GROUP_CODE, kind] / t['sl', kind]:.1%}")
            cells.append(f"{c[GROUP_CODE, 'sl', kind] / t[GROUP_CODE, kind]:.1%}")
        lines.append(f"| {name} | {' | '.join(cells)} | {r['ms']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--errors", action="store_true", help="list sl/hbs mistakes")
    args = parser.parse_args(argv)

    settings = LanguageSettings.from_section(load_settings().section("languages"))
    rows = load_rows()
    methods = make_methods(settings)
    for predict in methods.values():  # warm caches once before timing
        for _, _, text in rows[:50]:
            predict(text)
    results = evaluate(methods, rows)
    languages = list(dict.fromkeys(lang for lang, _, _ in rows))
    memory = memory_in_rasa_env()
    mem_line = (
        f"Memory (Rasa 3.10 environment, fresh process): {memory['before']:.0f} MB after "
        f"importing bot.language, {memory['after']:.0f} MB after warm-up and detecting "
        f"the whole set: **+{memory['after'] - memory['before']:.0f} MB** for language "
        "identification."
        if memory
        else "Memory: the Rasa environment is not installed; not measured."
    )
    configured = ", ".join(settings.supported + settings.also_detect)
    report = "\n".join(
        [
            "# Language identification: words, word pairs, short messages",
            "",
            f"Data: `{DATA.relative_to(ROOT)}`, {len(rows)} items (bench/lid_data.py "
            "says how each part was made; none of it was fitted on). Configured "
            f"languages: {configured}; hr/sr/bs scored as one group `hbs`. ms/msg: CPU "
            "time of this process for one pass over all items after warm-up (CPU time, "
            "not wall time: the shared machine's load inflates wall time several-fold), "
            f"Python {sys.version.split()[0]}; {stamp()}.",
            "",
            GOALS,
            "",
            tables(results, languages),
            "",
            mem_line,
        ]
    )
    print(report)
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(report + "\n", encoding="utf-8")
    if args.errors:
        for kind, gold, predicted, text in results[OURS]["mistakes"]:
            print(f"  {kind:8} {gold:4} -> {predicted!s:5} {text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

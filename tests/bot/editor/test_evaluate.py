"""`bot evaluate`: a real NLU training on the tiny project, its report, the quality gate.

One evaluation (Rasa trains the project's pipeline for a few epochs) is shared by the
module; the gate is then exercised by editing the accepted report it is compared with.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.editor.evaluate import (
    EvaluationSettings,
    compare,
    nlu_training_yaml,
    plan_runs,
)
from bot.editor.nludata import load_nlu
from bot.errors import ConfigError
from bot.settings import load_settings
from tests.bot.editor.conftest import make_project
from tests.conftest import ROOT


def run_cli(settings: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SUPPORTBOT_CONFIG"}
    return subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(settings), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("evaluate")
    settings, project = make_project(folder)
    done = run_cli(settings, "evaluate", "--epochs", "20", "--no-kb")
    assert done.returncode == 0, done.stdout + done.stderr
    reports = folder / "reports"
    [report_dir] = [p for p in reports.iterdir() if p.is_dir()]
    yield {
        "settings": settings,
        "project": project,
        "output": done.stdout,
        "dir": report_dir,
        "report": json.loads((report_dir / "report.json").read_text()),
    }


def test_report_has_every_language_with_its_metrics(evaluated: dict[str, Any]) -> None:
    report = evaluated["report"]
    assert set(report["languages"]) == {"en", "sl"}
    for values in report["languages"].values():
        assert 0.0 <= values["accuracy"] <= 1.0
        assert 0.0 <= values["macro_f1"] <= 1.0
        assert 0.0 <= values["fallback_rate"] <= 1.0
        assert values["examples_tested"] == 6  # 2 of 10 per intent, 3 intents
        assert values["matrix"]["labels"]
    # 20 epochs on 8 examples per intent: the model has learnt something
    assert max(v["accuracy"] for v in report["languages"].values()) >= 0.5
    assert report["method"] == {
        "folds": 0,
        "test_fraction": 0.2,
        "seed": 42,
        "epochs_override": 20,
        "examples": 60,
        "tested": 12,
        "intents": 3,
    }


def test_report_states_the_out_of_scope_thresholds_per_language(
    evaluated: dict[str, Any],
) -> None:
    # config.yml's CalibratedIntentClassifier fits them at train time; 24 training
    # examples per language are too few for a threshold of their own (30), so both
    # languages use the pooled one, and the report says so.
    calibration = evaluated["report"]["calibration"]
    assert calibration["target"] == 0.05
    assert set(calibration["languages"]) >= {"en", "sl"}
    for lang in ("en", "sl"):
        values = calibration["languages"][lang]
        assert values["pooled"] is True
        assert isinstance(values["threshold"], float)
        assert 0.0 <= values["fitted_false_fallback_rate"] <= 0.2
        assert 0.0 <= values["held_out_fallback_rate"] <= 1.0
    markdown = (evaluated["dir"] / "report.md").read_text()
    assert "## Out-of-scope thresholds (target: at most 5.0% of in-scope" in markdown
    assert "(all languages)" in markdown


def test_report_files_and_progress(evaluated: dict[str, Any]) -> None:
    folder: Path = evaluated["dir"]
    assert (folder / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    markdown = (folder / "report.md").read_text()
    assert "| en | " in markdown and "| sl | " in markdown
    assert "![confusion matrices](confusion.png)" in markdown
    out = evaluated["output"]
    assert "training NLU model 1/1" in out and "classifying 12 held-out examples" in out
    assert "no accepted report to compare with" in out


def test_gate_passes_against_itself_and_fails_on_a_drop(
    evaluated: dict[str, Any],
) -> None:
    settings = evaluated["settings"]
    accepted_path = settings.parent / "reports" / "accepted.json"
    done = run_cli(settings, "evaluate", "--accept")
    assert done.returncode == 0, done.stderr
    assert json.loads(accepted_path.read_text()) == evaluated["report"]
    # Pretend the accepted model was much better in Slovenian than the new one can be.
    accepted = json.loads(accepted_path.read_text())
    accepted["languages"]["sl"]["accuracy"] = 1.5
    accepted_path.write_text(json.dumps(accepted))
    done = run_cli(settings, "evaluate", "--epochs", "20", "--no-kb", "--gate")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "quality gate FAILED:" in done.stdout
    assert "sl: accuracy fell from 150.0% to " in done.stdout
    newest = sorted(p for p in (settings.parent / "reports").iterdir() if p.is_dir())[
        -1
    ]
    assert "**Quality gate: FAILED**" in (newest / "report.md").read_text()


def test_compare_allows_the_margin_and_flags_a_missing_language() -> None:
    old = {
        "languages": {
            "en": {"accuracy": 0.90, "macro_f1": 0.88},
            "ar": {"accuracy": 0.8, "macro_f1": 0.8},
        }
    }
    new = {"languages": {"en": {"accuracy": 0.885, "macro_f1": 0.85}}}
    rows, regressions = compare(new, old, margin=0.02)
    assert [(r["language"], r["metric"]) for r in rows] == [
        ("en", "accuracy"),
        ("en", "macro_f1"),
    ]
    assert regressions == [
        "ar: accuracy missing (the accepted report had 80.0%); was the language removed?",
        "ar: macro_f1 missing (the accepted report had 80.0%); was the language removed?",
        "en: macro_f1 fell from 88.0% to 85.0% (-3.0 points, allowed -2.0)",
    ]
    assert compare(new, None, 0.02) == ([], [])


def test_k_fold_runs_test_every_example_once(tmp_path: Path) -> None:
    _, project = make_project(tmp_path)
    examples = load_nlu(project.nlu_dir).examples
    runs = plan_runs(examples, EvaluationSettings(folds=5))
    assert len(runs) == 5
    tested = [e for _, test in runs for e in test]
    assert sorted(map(str, tested)) == sorted(map(str, examples))
    for train, test in runs:
        assert not set(map(str, train)) & set(map(str, test))


def test_training_yaml_is_rasa_nlu_format(tmp_path: Path) -> None:
    _, project = make_project(tmp_path)
    examples = load_nlu(project.nlu_dir).examples[:3]
    data = yaml.safe_load(nlu_training_yaml(examples))
    assert data["nlu"] == [
        {"intent": "greet", "examples": "- hi\n- hello\n- hey there\n"}
    ]


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"test_fraction": 1.5}, "test_fraction"),
        ({"folds": 1}, "folds"),
        ({"margin": "2%"}, "margin"),
        ({"seeds": 3}, "seeds"),
    ],
)
def test_bad_evaluation_settings_name_the_key(
    tmp_path: Path, values: dict[str, Any], key: str
) -> None:
    settings, _ = make_project(tmp_path, evaluation=values)
    with pytest.raises(ConfigError, match=rf"evaluation\.{key}"):
        EvaluationSettings.from_settings(load_settings(settings))

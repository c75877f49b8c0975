"""`bot train`: trains the tiny project once, then nothing while nothing changed, then
only what an edit touched, and says what it trained and how long it took."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.editor import review
from bot.editor.train import RasaProject, describe_plan, inputs_digest
from tests.bot.editor.conftest import make_project
from tests.bot.editor.test_evaluate import run_cli

ROOT = Path(__file__).resolve().parents[3]
MODEL = ROOT / "models" / "embeddings"
#: The intent classifier config.yml trains (the one an added example retrains).
CLASSIFIER = next(
    step["name"]
    for step in yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))["pipeline"]
    if step["name"].endswith("Classifier") and step["name"] != "FallbackClassifier"
)


@pytest.mark.needs_models
def test_train_once_then_skip_then_retrain_only_what_changed(tmp_path: Path) -> None:
    if not (MODEL / "multilingual-e5-small" / "conversion.json").exists():
        pytest.skip("embedding model not built: run `make setup`")
    settings, project = make_project(tmp_path)
    model = tmp_path / "models" / "rasa" / "support.tar.gz"

    done = run_cli(settings, "train")
    assert done.returncode == 0, done.stdout + done.stderr
    assert model.exists()
    assert "Rasa model: trained in " in done.stdout
    assert "NLU: retrain " in done.stdout and CLASSIFIER in done.stdout
    assert "KB index: trained in " in done.stdout
    # 8 article texts (2 articles x en/sl x title, title + body) and 48 phrasings: the
    # tiny project's own examples of the articles' intents and their `questions:`.
    assert "embedded 2 articles, 56 vectors" in done.stdout

    done = run_cli(settings, "train")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Rasa model: skipped — up to date" in done.stdout
    assert "KB index: skipped — up to date: 2 articles, 56 vectors" in done.stdout
    stamp = model.stat().st_mtime

    review.label(project, "paket je izgubljen", "order_status", "sl")
    done = run_cli(settings, "train", "--only", "rasa")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "NLU: retrain " in done.stdout and CLASSIFIER in done.stdout
    assert "KB index" not in done.stdout
    assert model.stat().st_mtime > stamp


def test_train_refuses_invalid_data_before_starting_rasa(tmp_path: Path) -> None:
    settings, project = make_project(tmp_path)
    path = project.nlu_dir / "sl" / "topics.yml"
    path.write_text(path.read_text().replace("- intent: greet", "- intent: greet: x"))
    done = run_cli(settings, "train")
    assert done.returncode == 1
    assert f"{path}:" in done.stdout and "invalid YAML" in done.stdout
    assert "not training: fix the errors above first" in done.stdout
    assert not (tmp_path / "models").exists()


def test_inputs_digest_follows_data_not_unrelated_files(tmp_path: Path) -> None:
    _, project = make_project(tmp_path)
    rasa = RasaProject(root=project.root, out=tmp_path / "models" / "rasa")
    first = inputs_digest(rasa)
    (tmp_path / "notes.txt").write_text("unrelated")
    assert inputs_digest(rasa) == first
    review.label(project, "kje je paket zdaj", "order_status", "sl")
    assert inputs_digest(rasa) != first


def test_plan_description() -> None:
    assert describe_plan(
        {"nlu": ["DIETClassifier"], "dialogue": []},
        {"nlu": ["RegexFeaturizer"], "dialogue": ["TEDPolicy"]},
    ) == ("NLU: retrain DIETClassifier; dialogue: unchanged")
    assert describe_plan(
        {"nlu": [], "dialogue": []}, {"nlu": ["X"], "dialogue": ["Y"]}
    ) == (
        "no component changed (responses or stories repackaged only); NLU: unchanged; "
        "dialogue: unchanged"
    )

"""``bot train``: retrain only what changed, say what was trained and how long it took.

* Rasa model (NLU + dialogue): when none of its inputs changed since the last training
  (config.yml, domain.yml, data/nlu|rules|stories, our NLU component's code; a sha256
  kept beside the model) nothing runs at all. Otherwise Rasa's own fingerprinting
  decides: its dry run names the components that must be retrained, and the training
  reuses its cache (``.rasa/cache``) for all others. The model is written as
  ``models/rasa/support.tar.gz`` (``--fixed-model-name support --out models/rasa``).
* Knowledge-base index: rebuilt only when the articles or the embedding model changed
  (the index manifest records both; see :mod:`kb_index.store`).

Both take the same locks as the Makefile (``flock models/rasa/.train.lock``,
``var/.kb.lock``), so two trainings never write the same files at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.editor.problems import display_path
from bot.editor.worker import RASA_PYTHON, run_worker
from bot.settings import PROJECT_ROOT

Say = Callable[[str], None]

#: Code inside the Rasa model: our NLU components (config.yml names them by module).
COMPONENT_SOURCES = ("bot/nlu", "bot/language", "bot/language/weights.json")
MODEL_NAME = "support"
STAMP_SUFFIX = ".inputs.sha256"


@dataclass(frozen=True)
class RasaProject:
    """The files ``rasa train`` reads and where the model goes."""

    root: Path
    out: Path
    rasa_python: Path = RASA_PYTHON

    @property
    def domain(self) -> Path:
        return self.root / "domain.yml"

    @property
    def config(self) -> Path:
        return self.root / "config.yml"

    @property
    def data(self) -> list[Path]:
        return [self.root / "data" / d for d in ("nlu", "rules", "stories")]

    @property
    def model(self) -> Path:
        return self.out / f"{MODEL_NAME}.tar.gz"

    @property
    def stamp(self) -> Path:
        return self.out / f".{MODEL_NAME}{STAMP_SUFFIX}"

    @property
    def lock(self) -> Path:
        return self.out / ".train.lock"


@dataclass(frozen=True)
class StepResult:
    name: str
    trained: bool
    seconds: float
    detail: str


@contextmanager
def file_lock(path: Path, say: Say, what: str) -> Iterator[None]:
    """``flock(1)``-compatible exclusive lock; says so when it has to wait."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"  waiting for another {what} to finish ({display_path(path)}) ...")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def inputs_digest(project: RasaProject, code_root: Path = PROJECT_ROOT) -> str:
    """sha256 over every file the Rasa model is trained from, names included."""
    files = [project.config, project.domain]
    for folder in project.data:
        files += sorted(p for p in folder.rglob("*") if p.is_file())
    for rel in COMPONENT_SOURCES:
        p = code_root / rel
        files += sorted(p.rglob("*.py")) if p.is_dir() else [p]
    digest = hashlib.sha256()
    for path in files:
        if path.is_file():
            digest.update(str(path.relative_to(path.anchor)).encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def train_rasa(
    project: RasaProject, *, force: bool = False, say: Say = print
) -> StepResult:
    """Train the Rasa model unless nothing changed; Rasa retrains only changed parts."""
    with file_lock(project.lock, say, "training"):
        digest = inputs_digest(project)
        stamp = project.stamp.read_text().strip() if project.stamp.exists() else ""
        if not force and project.model.exists() and stamp == digest:
            return StepResult(
                "Rasa model", False, 0.0, f"up to date: {display_path(project.model)}"
            )
        say("Rasa model: checking what changed (Rasa's fingerprints) ...")

        def on_event(event: dict[str, Any]) -> None:
            if event["event"] == "plan":
                say("  " + describe_plan(event["retrain"], event["reuse"]))
                say("  training ...")

        args = [
            "train",
            "--domain",
            str(project.domain),
            "--config",
            str(project.config),
            "--data",
            *[str(d) for d in project.data if d.exists()],
            "--out",
            str(project.out),
            "--fixed-model-name",
            MODEL_NAME,
        ]
        result = run_worker(
            args + (["--force"] if force else []),
            on_event=on_event,
            say=say,
            label="training the Rasa model",
            rasa_python=project.rasa_python,
            cwd=project.root,
        )
        project.stamp.write_text(digest + "\n")
        plan = result.last("plan") or {"retrain": {}, "reuse": {}}
        return StepResult(
            "Rasa model",
            True,
            result.seconds,
            describe_plan(plan["retrain"], plan["reuse"]),
        )


def describe_plan(retrain: dict[str, list[str]], reuse: dict[str, list[str]]) -> str:
    """One line: which NLU and dialogue components are retrained, which reused."""
    parts = []
    for part in ("nlu", "dialogue"):
        label = "NLU" if part == "nlu" else "dialogue"
        if retrain.get(part):
            parts.append(f"{label}: retrain {', '.join(retrain[part])}")
        elif reuse.get(part):
            parts.append(f"{label}: unchanged")
    if not any(retrain.values()):
        return "no component changed (responses or stories repackaged only); " + (
            "; ".join(parts) or "nothing to train"
        )
    return "; ".join(parts)


def train_kb(settings: Any, *, force: bool = False, say: Say = print) -> StepResult:
    """Rebuild the KB index only when its inputs (articles, phrasings, target) or model changed."""
    from kb_index.articles import load_articles
    from kb_index.questions import collect_questions
    from kb_index.retriever import build_index, data_hash
    from kb_index.store import IndexMismatchError, VectorIndex

    lock = settings.index_dir.parent / ".kb.lock"
    with file_lock(lock, say, "index build"):
        start = time.monotonic()
        articles = load_articles(settings.articles, settings.languages)
        embedder = settings.embedder()
        if not force:
            try:  # cheap: the manifest and a hash of the weights, no model loading
                index = VectorIndex.load(
                    settings.index_dir,
                    model_id=embedder.model_id,
                    # the index's own digest (articles, phrasings, target), not a second one
                    data_hash=data_hash(
                        settings, articles, collect_questions(articles, settings.nlu)
                    ),
                )
                return StepResult(
                    "KB index",
                    False,
                    time.monotonic() - start,
                    f"up to date: {len(articles)} articles, "
                    f"{len(index.manifest.rows)} vectors",
                )
            except IndexMismatchError as exc:
                say(f"KB index: rebuilding ({str(exc).split(';')[0]}) ...")
        index, _ = build_index(settings, embedder, force=True)
        return StepResult(
            "KB index",
            True,
            time.monotonic() - start,
            f"embedded {len(articles)} articles, {len(index.manifest.rows)} vectors",
        )


def report_line(step: StepResult) -> str:
    state = "trained" if step.trained else "skipped"
    if step.trained and step.detail.startswith("no component changed"):
        state = "repackaged"  # Rasa reused every component from its cache
    took = f" in {format_seconds(step.seconds)}" if step.trained else ""
    return f"{step.name}: {state}{took} — {step.detail}"


def format_seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{int(seconds // 60)} min {seconds % 60:.0f} s"

"""bench/train.py's edit step and bench/run_all.py's collection (no training here)."""

from __future__ import annotations

from pathlib import Path

import yaml

from bench import run_all, train

NLU = """\
# comment
version: "3.1"
nlu:
- intent: where_is_order
  examples: |
    - where is my order
    - my parcel has not arrived
- intent: greet
  examples: |
    - hello
"""


def test_add_example_extends_the_first_intent_and_stays_valid_yaml(
    tmp_path: Path,
) -> None:
    path = tmp_path / "orders.yml"
    path.write_text(NLU, encoding="utf-8")
    assert train.add_example(path, "has my parcel left yet") == "where_is_order"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    examples = doc["nlu"][0]["examples"].splitlines()
    assert examples == [
        "- has my parcel left yet",
        "- where is my order",
        "- my parcel has not arrived",
    ]
    assert doc["nlu"][1]["examples"] == "- hello\n"


def test_the_edited_project_file_exists_and_has_examples(tmp_path: Path) -> None:
    copy = tmp_path / "orders.yml"
    copy.write_text((train.ROOT / train.EDITED_FILE).read_text(encoding="utf-8"))
    before = len(copy.read_text().splitlines())
    train.add_example(copy, train.NEW_EXAMPLE)
    assert len(copy.read_text().splitlines()) == before + 1
    assert train.NEW_EXAMPLE not in (train.ROOT / train.EDITED_FILE).read_text()


def test_results_summary_lists_every_benchmark() -> None:
    text = run_all.collect({"lid": "ok in 3 s"})
    for name in run_all.BENCHES:
        assert f"## {name}" in text
    assert "lid ok in 3 s" in text
    assert "CPUs" in text

"""bench/banking77.py's pure parts: variants, data preparation, the split, the report.

Training and timing are the benchmark's job, never a unit test's; these pin what the
published numbers depend on: that each variant changes exactly what it says, that the
training file Rasa reads holds the examples unchanged, and that the split is stratified,
seeded and disjoint.
"""

from __future__ import annotations

from collections import Counter

import pytest
import yaml

from bench import banking77 as b77


def _names(pipeline: list[dict]) -> list[str]:
    return [step["name"] for step in pipeline]


def test_shipped_variant_is_config_yml() -> None:
    config = yaml.safe_load((b77.ROOT / "config.yml").read_text(encoding="utf-8"))
    assert b77.BY_NAME["shipped"].pipeline() == config["pipeline"]


def test_the_previous_shipped_pipeline_stays_a_variant_beside_the_calibrated_classifier() -> None:
    # Issue 11: the old e5 + logistic regression + FallbackClassifier is kept side by side.
    assert "bot.nlu.intent_classifier.CalibratedIntentClassifier" in _names(b77.shipped_pipeline())
    previous = _names(b77.BY_NAME["e5-rasa-logreg"].pipeline())
    assert previous[-2:] == ["LogisticRegressionClassifier", "FallbackClassifier"]
    assert b77.BY_NAME["diet"].pipeline() == b77.DIET_BASELINE


def test_each_variant_changes_what_it_says() -> None:
    shipped = b77.diet_pipeline()
    diet = _names(shipped).index("DIETClassifier")

    e5 = b77.BY_NAME["diet+e5"].pipeline()
    assert e5[diet] == {"name": b77.E5}
    assert e5[:diet] + e5[diet + 1 :] == shipped

    sentence = b77.BY_NAME["diet+e5-sentence"].pipeline()
    assert sentence[diet] == {"name": b77.E5, "sequence_features": False}

    longer = b77.BY_NAME["diet-120ep"].pipeline()
    assert longer[diet] == {**shipped[diet], "epochs": 120}

    no_char = b77.BY_NAME["no-char"].pipeline()
    assert len(no_char) == len(shipped) - 1
    assert all(step.get("analyzer") != "char_wb" for step in no_char)

    only = _names(b77.BY_NAME["e5-only"].pipeline())
    assert "CountVectorsFeaturizer" not in only and b77.E5 in only
    assert only[-2:] == ["DIETClassifier", "FallbackClassifier"]

    rasa_logreg = b77.BY_NAME["e5-rasa-logreg"].pipeline()
    assert _names(rasa_logreg)[-3:] == [
        b77.E5,
        "LogisticRegressionClassifier",
        "FallbackClassifier",
    ]
    assert rasa_logreg[-3] == {"name": b77.E5, "sequence_features": False, "scale": "unit"}
    assert "DIETClassifier" not in _names(rasa_logreg)

    assert b77.BY_NAME["e5-logreg"].pipeline() is None


def test_variants_do_not_share_state() -> None:
    first = b77.BY_NAME["diet-120ep"].pipeline()
    assert b77.BY_NAME["shipped"].pipeline() != first


def test_unknown_step_is_a_clear_error() -> None:
    with pytest.raises(KeyError, match="no Nope"):
        b77.drop("Nope")(b77.diet_pipeline())


def test_nlu_yaml_round_trips_awkward_texts() -> None:
    rows = [
        ("Where is my transfer from [country]?", "transfer", "en"),
        ("I managed to drunken block my card :(( Help!", "pin", "en"),
        ('it\'s stuck at "pending" # not a comment', "pending", "en"),
        ("- starts with a dash", "pending", "en"),
        ("أين طلبي؟", "where", "ar"),
        ("Where is my transfer from [country]?", "transfer", "en"),  # duplicate dropped
    ]
    doc = yaml.safe_load(b77.nlu_yaml(rows))
    assert doc["version"] == "3.1"
    got = {
        block["intent"]: [line[2:] for line in block["examples"].splitlines()]
        for block in doc["nlu"]
    }
    assert got == {
        "pending": ['it\'s stuck at "pending" # not a comment', "- starts with a dash"],
        "pin": ["I managed to drunken block my card :(( Help!"],
        "transfer": ["Where is my transfer from [country]?"],
        "where": ["أين طلبي؟"],
    }


def test_clean_makes_one_line() -> None:
    assert b77._clean("\nI can't  use my card\n\n\n") == "I can't use my card"


def _rows() -> list[tuple[str, str, str]]:
    return [
        (f"{lang} {intent} {i}", intent, lang)
        for lang in ("en", "sl")
        for intent, n in (("a", 10), ("b", 5), ("c", 1))
        for i in range(n)
    ]


def test_project_split_is_stratified_disjoint_and_seeded() -> None:
    rows = _rows()
    train, test = b77.split_project(rows, seed=3, held_out=0.2)
    assert sorted(train + test) == sorted(rows)
    assert not set(train) & set(test)
    held = Counter((lang, intent) for _, intent, lang in test)
    # 20 % of each (language, intent), at least one; a lone example stays in training
    assert held == {("en", "a"): 2, ("en", "b"): 1, ("sl", "a"): 2, ("sl", "b"): 1}
    assert b77.split_project(rows, seed=3, held_out=0.2) == (train, test)
    assert b77.split_project(rows, seed=4, held_out=0.2)[1] != test


def test_project_data_is_read_per_language() -> None:
    rows = b77.load_project()
    langs = Counter(lang for _, _, lang in rows)
    assert set(langs) == set(b77.PROJECT_LANGUAGES)
    assert all(n > 100 for n in langs.values())
    assert all(text and "\n" not in text for text, _, _ in rows)


def _record(**over: object) -> dict:
    base = {
        "accuracy": 0.81,
        "macro_f1": 0.87,
        "classifier_accuracy": 0.89,
        "classifier_macro_f1": 0.88,
        "fallback_rate": 0.14,
        "train_s": 219.4,
        "ms_per_message": 4.7,
        "peak_rss_mib": 1239,
        "cpus": 2,
        "date": "2026-11-24",
        "load_at_start": 0.1,
        "confusions": [["a", "b", 3]],
        "note": "",
        "per_language": {
            "en": {
                "n": 10,
                "accuracy": 0.8,
                "macro_f1": 0.7,
                "classifier_accuracy": 0.9,
            }
        },
    }
    return {**base, **over}


def test_report_shows_references_every_variant_and_each_rows_context() -> None:
    text = b77.report({"banking77": {"shipped": _record()}})
    assert "93.66 %" in text and "93.36 %" in text
    shipped = next(line for line in text.splitlines() if line.startswith("| shipped |"))
    assert "89.00 %" in shipped and "81.00 %" in shipped and "| 219 |" in shipped
    assert "2, 2026-11-24" in shipped
    for v in b77.VARIANTS[1:]:
        assert f"| {v.name} | {v.description} | not run yet |" in text


def test_score_counts_fallback_as_wrong_but_ranks_past_it() -> None:
    test = [("t1", "a", "en"), ("t2", "b", "en"), ("t3", "b", "sl")]
    pairs = [("a", "a"), (b77.FALLBACK, "b"), ("a", "a")]
    record = b77.score(test, pairs)
    assert record["accuracy"] == pytest.approx(1 / 3)
    assert record["classifier_accuracy"] == pytest.approx(2 / 3)
    assert record["fallback_rate"] == pytest.approx(1 / 3)
    assert record["per_language"]["en"]["classifier_accuracy"] == 1.0
    assert record["per_language"]["sl"]["accuracy"] == 0.0

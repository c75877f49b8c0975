"""The knowledge_base settings are validated on load, and the answer/suggest decision."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.settings import load_settings
from kb_index.articles import Article
from kb_index.retriever import Hit, KBSettings, Outcome, decide
from tests.conftest import write_settings


def hit(score: float) -> Hit:
    article = Article(id="a", title={"en": "A"}, body={"en": "b"}, tags=(), intents=(),
                      source=Path("a.md"))
    return Hit(article, score, score, 0.0)


@pytest.mark.parametrize(
    ("scores", "outcome"),
    [([], Outcome.NONE), ([0.5], Outcome.NONE), ([0.75, 0.7], Outcome.SUGGEST),
     ([0.9], Outcome.ANSWER), ([0.8], Outcome.ANSWER)],
)
def test_confident_answers_plausible_suggests_else_none(
    scores: list[float], outcome: Outcome
) -> None:
    assert decide([hit(s) for s in scores], answer_threshold=0.8, suggest_threshold=0.7) is outcome


def test_project_settings_load(settings_file: Path) -> None:
    kb = KBSettings.from_settings(load_settings(settings_file))
    assert kb.languages == ("en", "ar", "sl")
    assert kb.suggest_threshold <= kb.answer_threshold
    assert Path(kb.model).is_absolute()


def test_a_hub_model_name_is_kept_for_users_with_internet(tmp_path: Path) -> None:
    path = write_settings(tmp_path, knowledge_base={"model": "intfloat/multilingual-e5-base"})
    assert KBSettings.from_settings(load_settings(path)).model == "intfloat/multilingual-e5-base"


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ({"answer_threshold": 1.5}, "knowledge_base.answer_threshold"),
        ({"lexical_weight": "high"}, "knowledge_base.lexical_weight"),
        ({"answer_threshold": 0.5, "suggest_threshold": 0.9}, "knowledge_base.suggest_threshold"),
        ({"model": ""}, "knowledge_base.model"),
    ],
)
def test_bad_values_name_the_file_and_the_key(tmp_path: Path, override: dict, key: str) -> None:
    path = write_settings(tmp_path, knowledge_base=override)
    with pytest.raises(ConfigError) as err:
        KBSettings.from_settings(load_settings(path))
    assert key in str(err.value) and str(path) in str(err.value)


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "supportbot.yml"
    path.write_text("languages:\n  supported: [en\n")
    with pytest.raises(ConfigError, match=r"invalid YAML at line \d"):
        load_settings(path)


# --- the language an article is shown in when the customer's has no articles ------------


def closest(tmp_path: Path, mapping: dict) -> KBSettings:
    path = write_settings(tmp_path, knowledge_base={"closest_language": mapping})
    return KBSettings.from_settings(load_settings(path))


def test_a_native_customer_reads_their_own_language(tmp_path: Path) -> None:
    assert closest(tmp_path, {"hr": "sl"}).reading_language("ar") == "ar"


def test_a_configured_neighbour_reads_the_closest_native_language(tmp_path: Path) -> None:
    kb = closest(tmp_path, {"hr": "sl", "de": "en"})
    assert (kb.reading_language("hr"), kb.reading_language("de")) == ("sl", "en")


def test_an_unlisted_language_reads_the_default(tmp_path: Path) -> None:
    kb = closest(tmp_path, {"hr": "sl"})
    assert kb.reading_language("tr") == kb.default_language == "en"
    assert kb.reading_language(None) == "en"


def test_a_closest_language_without_articles_is_refused(tmp_path: Path) -> None:
    path = write_settings(tmp_path, knowledge_base={"closest_language": {"hr": "de"}})
    with pytest.raises(ConfigError, match=r"closest_language\.hr.*'de' is not one of"):
        KBSettings.from_settings(load_settings(path))


@pytest.mark.parametrize("key", ["wrong_answer_target", "out_of_scope_offered"])
def test_the_decision_targets_are_fractions(tmp_path: Path, key: str) -> None:
    path = write_settings(tmp_path, knowledge_base={key: 2})
    with pytest.raises(ConfigError, match=f"knowledge_base.{key}"):
        KBSettings.from_settings(load_settings(path))

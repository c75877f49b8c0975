"""`bot validate`: every finding names file:line and the fix; the shipped data is valid."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.editor.nludata import normalise
from bot.editor.validate import Project, parse_rasa_output, validate
from bot.settings import load_settings
from tests.conftest import ROOT


def errors(project: Project) -> list[str]:
    report = validate(project, rasa=False, say=lambda line: None)
    return [p.render() for p in report.errors]


def line_no(path: Path, text: str) -> int:
    """1-based number of the first line of ``path`` containing ``text``."""
    lines = path.read_text(encoding="utf-8").split("\n")
    return next(i for i, line in enumerate(lines, 1) if text in line)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_the_shipped_project_is_valid() -> None:
    project = Project.from_settings(load_settings(ROOT / "supportbot.yml"))
    assert errors(project) == []


def test_the_tiny_project_is_valid(tiny: tuple[Path, Project]) -> None:
    assert errors(tiny[1]) == []


def test_broken_yaml_names_file_line_and_column(tiny: tuple[Path, Project]) -> None:
    _, project = tiny
    path = project.nlu_dir / "sl" / "topics.yml"
    edit(path, "- intent: order_status", "- intent: order_status: oops")
    [message] = errors(project)
    line = path.read_text().split("\n").index("- intent: order_status: oops") + 1
    assert message.startswith(f"{path}:{line}: invalid YAML, column ")
    assert "fix:" in message


def test_an_intent_missing_in_one_language_is_named_with_the_file_to_add_it_to(
    tiny: tuple[Path, Project],
) -> None:
    _, project = tiny
    path = project.nlu_dir / "sl" / "topics.yml"
    text = path.read_text(encoding="utf-8")
    start = text.index("- intent: reset_password")
    path.write_text(text[:start], encoding="utf-8")
    [message] = errors(project)
    assert re.match(
        r".*/data/nlu/en/topics.yml:\d+: intent 'reset_password' has no "
        r"Slovenian \(sl\) examples",
        message,
    )
    assert "data/nlu/sl/topics.yml" in message and "translated_intents" in message


def test_translated_intents_need_only_the_default_language(tmp_path: Path) -> None:
    from tests.bot.editor.conftest import make_project

    _, project = make_project(
        tmp_path, validation={"translated_intents": ["reset_password"]}
    )
    path = project.nlu_dir / "sl" / "topics.yml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text[: text.index("- intent: reset_password")], encoding="utf-8")
    assert errors(project) == []


def test_the_same_example_under_two_intents_is_an_error_even_across_languages(
    tiny: tuple[Path, Project],
) -> None:
    _, project = tiny
    # "Hello!" normalises to an English greeting's "hello"; put it under order_status in sl
    edit(project.nlu_dir / "sl" / "topics.yml", "    - paketa še ni", "    - Hello!")
    [message] = errors(project)
    assert "data/nlu/sl/topics.yml:" in message
    assert (
        "'Hello!' is under intent 'order_status' and also under 'greet' at " in message
    )
    assert "data/nlu/en/topics.yml:" in message


def test_a_repeat_within_one_intent_and_language_only_warns(
    tiny: tuple[Path, Project],
) -> None:
    _, project = tiny
    edit(project.nlu_dir / "en" / "topics.yml", "    - hiya", "    - HELLO!!")
    report = validate(project, rasa=False, say=lambda line: None)
    assert report.errors == []
    path = project.nlu_dir / "en" / "topics.yml"
    assert [p.render() for p in report.warnings] == [
        f"{path}:{line_no(path, 'HELLO!!')}: warning: example 'HELLO!!' repeats "
        f"{path}:{line_no(path, '- hello')} (intent 'greet')\n"
        "    fix: delete one of the two lines"
    ]


def test_one_rating_in_two_languages_under_one_intent_is_fine(
    tiny: tuple[Path, Project],
) -> None:
    _, project = tiny
    edit(project.nlu_dir / "sl" / "topics.yml", "    - ojla", "    - Hey!")
    report = validate(project, rasa=False, say=lambda line: None)
    assert report.problems == []


def test_unknown_intent_and_response_without_a_language(
    tiny: tuple[Path, Project],
) -> None:
    _, project = tiny
    edit(project.nlu_dir / "en" / "topics.yml", "- intent: greet", "- intent: gret")
    edit(
        project.domain,
        "    text: Živjo!\n",
        "    text: Živjo!\n  - condition:\n"
        "    - type: slot\n      name: language\n      value: de\n    text: Hallo!\n",
    )
    found = errors(project)
    en = project.nlu_dir / "en" / "topics.yml"
    assert (
        f"{en}:{line_no(en, 'gret')}: intent 'gret' is not declared in domain.yml"
        in "\n".join(found)
    )
    de_line = line_no(project.domain, "value: de") - 3  # the variation's "- condition:"
    assert (
        f"{project.domain}:{de_line}: response 'utter_greet' has a variation for "
        "'de', which is not a supported language (en, sl)" in "\n".join(found)
    )


def test_a_response_missing_a_language_names_the_response_line(
    tiny: tuple[Path, Project],
) -> None:
    _, project = tiny
    edit(
        project.domain,
        "  - condition:\n    - type: slot\n      name: language\n"
        "      value: sl\n    text: Živjo!\n",
        "",
    )
    assert errors(project) == [
        f"{project.domain}:{line_no(project.domain, 'utter_greet:')}: response "
        "'utter_greet' has no Slovenian (sl) variation\n"
        "    fix: add a variation with 'condition: [{type: slot, name: language, value: "
        "sl}]' and the Slovenian (sl) text"
    ]


def test_every_broken_article_is_reported_not_just_the_first(
    tiny: tuple[Path, Project],
) -> None:
    _, project = tiny
    kb = project.kb_articles
    edit(kb / "order-status.md", "<!-- lang: sl -->", "<!-- language: sl -->")
    edit(kb / "reset-password.md", "intents: [", "intents: [no_such_intent, ")
    found = errors(project)
    assert len(found) == 2, found
    assert re.match(rf"{kb}/order-status.md:\d+: ", found[0])
    assert (
        f"{kb}/reset-password.md:4: article 'reset-password' lists intent "
        "'no_such_intent', which is not in domain.yml" in found[1]
    )


def test_an_nlu_folder_for_an_unsupported_language(tiny: tuple[Path, Project]) -> None:
    _, project = tiny
    (project.nlu_dir / "de").mkdir()
    assert any("NLU folder for 'de'" in m for m in errors(project))


def test_example_lines_must_start_with_a_dash(tiny: tuple[Path, Project]) -> None:
    _, project = tiny
    edit(project.nlu_dir / "en" / "topics.yml", "    - hiya", "    hiya")
    path = project.nlu_dir / "en" / "topics.yml"
    assert errors(project) == [
        f"{path}:{line_no(path, 'hiya')}: example line does not start with "
        "'- ': 'hiya'\n    fix: write each example as '- text' on its own line"
    ]


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Where's my ORDER?", "wheres my order"),
        ("naročilo", "narocilo"),
        ("  two   spaces ", "two spaces"),
        ("وين طلبي؟", "وين طلبي"),
    ],
)
def test_normalise_ignores_case_accents_punctuation_and_spacing(a: str, b: str) -> None:
    assert normalise(a) == normalise(b)


def test_rasa_validator_output_becomes_problems() -> None:
    output = (
        "\x1b[93m/x/rasa/shared/utils/io.py:100: UserWarning: The utterance 'utter_x' is "
        "not used in any story or rule.\n\x1b[0m"
        "2026-11-24 11:19:29 ERROR    rasa.validator  - Found inconsistent stories\n"
        "2026-11-24 11:34:05 WARNING  rasa.validator  - Story structure conflict after "
        "intent 'greet':\n  utter_a predicted in 'one'\n  utter_b predicted in 'two'\n"
        "\n2026-11-24 INFO rasa.validator - done\n"
    )
    problems = parse_rasa_output(output, returncode=1)
    assert [(p.warning, p.problem) for p in problems] == [
        (True, "The utterance 'utter_x' is not used in any story or rule."),
        (False, "Found inconsistent stories"),
        (
            False,
            "Story structure conflict after intent 'greet': utter_a predicted in "
            "'one'; utter_b predicted in 'two'",
        ),
    ]
    assert parse_rasa_output("Traceback\nInvalidDomain: bad slot\n", 1)[0].problem == (
        "Rasa's validator failed: bad slot"
    )


def test_rasa_validator_runs_and_fails_on_conflicting_stories(
    tiny: tuple[Path, Project],
) -> None:
    _, project = tiny
    (project.root / "data" / "stories" / "stories.yml").write_text(
        'version: "3.1"\nstories:\n'
        "- story: one\n  steps:\n  - intent: order_status\n  - action: utter_greet\n"
        "- story: two\n  steps:\n  - intent: order_status\n  - action: utter_bye\n",
        encoding="utf-8",
    )
    edit(project.domain, "responses:\n", "responses:\n  utter_bye:\n  - text: Bye\n")
    report = validate(project, rasa=True, say=lambda line: None)
    rasa_errors = [p for p in report.errors if p.where == "rasa data validate"]
    assert [p.problem for p in rasa_errors] == [
        "Story structure conflict after intent 'order_status': utter_bye predicted in "
        "'two'; utter_greet predicted in 'one'"
    ]

"""Specification of the knowledge-base article format (kb_index.articles).

The first half checks the real content in data/kb; the second half writes broken files
into a temporary folder and checks that each one fails with a ConfigError that names the
file (and line where it is known) and the problem.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import yaml

from bot.errors import ConfigError
from kb_index.articles import Article, content_hash, load_articles, parse_article

ROOT = Path(__file__).resolve().parents[2]
KB = ROOT / "data" / "kb"
QUESTIONS = ROOT / "bench" / "data" / "kb_questions.yml"
LANGS = ("en", "ar", "sl")

#: Intents in domain.yml that the knowledge base must answer.
KB_INTENTS = (
    "order_status",
    "shipping_time",
    "change_address",
    "return_refund",
    "payment_methods",
    "double_charge",
    "cancel_subscription",
    "change_plan",
    "reset_password",
    "delete_account",
    "opening_hours",
    "damaged_item",
    "discount_code",
    "invoice_request",
)

_ARABIC = re.compile(r"[\u0600-\u06FF]")
_SENTENCE_END = re.compile(r"[.!?؟](?=\s|$)")


# --- the real knowledge base ---------------------------------------------------------


@pytest.fixture(scope="module")
def real_articles() -> list[Article]:
    return load_articles(KB, LANGS)


def test_the_real_knowledge_base_loads_with_at_least_30_articles(real_articles):
    assert len(real_articles) >= 30


def test_every_article_has_title_and_body_in_every_language(real_articles):
    for article in real_articles:
        assert set(article.title) == set(LANGS), article.id
        assert set(article.body) == set(LANGS), article.id
        for lang in LANGS:
            assert article.title[lang].strip(), (article.id, lang)
            assert article.body[lang].strip(), (article.id, lang)


def test_arabic_text_is_in_arabic_script_and_the_others_are_not(real_articles):
    for article in real_articles:
        assert _ARABIC.search(article.title["ar"]), article.id
        assert _ARABIC.search(article.body["ar"]), article.id
        for lang in ("en", "sl"):
            assert not _ARABIC.search(article.text(lang)), (article.id, lang)


def test_bodies_are_short_answers_of_two_to_six_sentences(real_articles):
    for article in real_articles:
        for lang in LANGS:
            sentences = len(_SENTENCE_END.findall(article.body[lang]))
            assert 2 <= sentences <= 6, (article.id, lang, sentences)


def test_every_kb_intent_is_answered_by_at_least_one_article(real_articles):
    covered = {intent for article in real_articles for intent in article.intents}
    assert set(KB_INTENTS) <= covered, sorted(set(KB_INTENTS) - covered)


def test_articles_come_back_sorted_by_id_with_their_source_file(real_articles):
    assert [a.id for a in real_articles] == sorted(a.id for a in real_articles)
    for article in real_articles:
        assert article.source.name == f"{article.id}.md"


def test_the_readme_in_the_kb_folder_is_not_an_article(real_articles):
    assert (KB / "README.md").is_file()
    assert all(a.source.name != "README.md" for a in real_articles)


def test_article_text_is_title_then_body_in_the_asked_language(real_articles):
    article = real_articles[0]
    assert article.text("sl") == f"{article.title['sl']}\n\n{article.body['sl']}"
    with pytest.raises(KeyError, match="has no text in 'de'"):
        article.text("de")


def test_every_article_has_at_least_two_evaluation_questions_per_language(
    real_articles,
):
    data = yaml.safe_load(QUESTIONS.read_text(encoding="utf-8"))
    questions = data["questions"]
    ids = {a.id for a in real_articles}
    counts: dict[tuple[str, str], int] = {}
    for q in questions:
        assert set(q) == {"lang", "article", "text"}, q
        assert q["article"] in ids, q
        assert q["lang"] in LANGS, q
        assert q["text"].strip(), q
        counts[q["article"], q["lang"]] = counts.get((q["article"], q["lang"]), 0) + 1
    missing = [
        (i, lang) for i in sorted(ids) for lang in LANGS if counts.get((i, lang), 0) < 2
    ]
    assert not missing


def test_evaluation_questions_are_unique_and_in_the_labelled_script():
    data = yaml.safe_load(QUESTIONS.read_text(encoding="utf-8"))
    texts = [" ".join(q["text"].casefold().split()) for q in data["questions"]]
    assert len(texts) == len(set(texts)), "a question is listed twice"
    for q in data["questions"]:
        assert bool(_ARABIC.search(q["text"])) == (q["lang"] == "ar"), q


def test_evaluation_questions_do_not_repeat_an_article_title(real_articles):
    titles = {
        " ".join(a.title[lang].casefold().split())
        for a in real_articles
        for lang in LANGS
    }
    data = yaml.safe_load(QUESTIONS.read_text(encoding="utf-8"))
    for q in data["questions"]:
        assert " ".join(q["text"].casefold().split()) not in titles, q


# --- the content hash ----------------------------------------------------------------


def test_content_hash_is_a_stable_sha256_independent_of_order(real_articles):
    digest = content_hash(real_articles)
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert content_hash(list(reversed(real_articles))) == digest
    assert content_hash(load_articles(KB, LANGS)) == digest


def test_content_hash_changes_when_a_body_changes(real_articles):
    first = real_articles[0]
    edited = dataclasses.replace(
        first, body={**first.body, "en": first.body["en"] + "!"}
    )
    assert content_hash([edited, *real_articles[1:]]) != content_hash(real_articles)


def test_content_hash_changes_with_title_tags_and_intents(real_articles):
    base = content_hash(real_articles)
    first, rest = real_articles[0], real_articles[1:]
    for change in (
        {"title": {**first.title, "sl": first.title["sl"] + "?"}},
        {"tags": (*first.tags, "new-tag")},
        {"intents": (*first.intents, "new_intent")},
    ):
        assert content_hash([dataclasses.replace(first, **change), *rest]) != base


def test_content_hash_ignores_where_the_folder_lives(tmp_path):
    write(tmp_path / "a", "one", VALID.format(id="one"))
    write(tmp_path / "b" / "deeper", "one", VALID.format(id="one"))
    a = load_articles(tmp_path / "a", LANGS)
    b = load_articles(tmp_path / "b", LANGS)
    assert content_hash(a) == content_hash(b)


def test_content_hash_ignores_line_endings_and_unicode_normal_form(tmp_path):
    text = VALID.format(id="one").replace("Kako", "Kakó")
    write(tmp_path / "lf", "one", text)
    crlf = text.replace("\n", "\r\n").replace("ó", "o\u0301")
    (tmp_path / "crlf").mkdir()
    (tmp_path / "crlf" / "one.md").write_bytes(b"\xef\xbb\xbf" + crlf.encode())
    assert content_hash(load_articles(tmp_path / "lf", LANGS)) == content_hash(
        load_articles(tmp_path / "crlf", LANGS)
    )


# --- the format, with files written in tmp_path ---------------------------------------

VALID = """\
---
id: {id}
tags: [account, login]
intents: [reset_password]
title:
  en: "Forgot password: what now?"
  ar: نسيت كلمة المرور
  sl: Kako ponastavim geslo?
---
<!-- lang: en -->
Open https://lumo.example/account/reset and enter your email.

The link is valid for 60 minutes.
<!-- lang: ar -->
افتح الرابط https://lumo.example/account/reset وأدخل بريدك الإلكتروني.
<!-- lang: sl -->
Odprite https://lumo.example/account/reset in vpišite e-naslov.
"""


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.md"
    path.write_text(text, encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str, name: str = "reset-password") -> str:
    """Write one article, load the folder, return the ConfigError message."""
    path = write(tmp_path, name, text)
    with pytest.raises(ConfigError) as info:
        load_articles(tmp_path, LANGS)
    message = str(info.value)
    assert str(path) in message, message
    assert "(fix: " in message, message
    return message


def test_a_valid_file_parses_into_an_article(tmp_path):
    path = write(tmp_path, "reset-password", VALID.format(id="reset-password"))
    [article] = load_articles(tmp_path, LANGS)
    assert article == Article(
        id="reset-password",
        title={
            "en": "Forgot password: what now?",
            "ar": "نسيت كلمة المرور",
            "sl": "Kako ponastavim geslo?",
        },
        body={
            "en": "Open https://lumo.example/account/reset and enter your email.\n\n"
            "The link is valid for 60 minutes.",
            "ar": "افتح الرابط https://lumo.example/account/reset "
            "وأدخل بريدك الإلكتروني.",
            "sl": "Odprite https://lumo.example/account/reset in vpišite e-naslov.",
        },
        tags=("account", "login"),
        intents=("reset_password",),
        source=path,
    )
    assert article.source == path
    assert parse_article(path, LANGS) == article


def test_articles_are_frozen_and_hashable(tmp_path):
    write(tmp_path, "reset-password", VALID.format(id="reset-password"))
    [article] = load_articles(tmp_path, LANGS)
    with pytest.raises(dataclasses.FrozenInstanceError):
        article.id = "other"  # type: ignore[misc]
    assert {article: 1}[article] == 1


def test_tags_and_intents_are_optional(tmp_path):
    text = VALID.format(id="x").replace("tags: [account, login]\n", "")
    write(tmp_path, "x", text.replace("intents: [reset_password]\n", ""))
    [article] = load_articles(tmp_path, LANGS)
    assert article.tags == () and article.intents == ()


def test_readme_hidden_files_and_other_extensions_are_ignored(tmp_path):
    write(tmp_path, "ok", VALID.format(id="ok"))
    (tmp_path / "README.md").write_text("# How to write articles\n", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "readme.md").write_text("notes\n", encoding="utf-8")
    (tmp_path / ".ok.md").write_text("editor backup\n", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not markdown\n", encoding="utf-8")
    assert [a.id for a in load_articles(tmp_path, LANGS)] == ["ok"]


def test_articles_in_sub_folders_are_loaded(tmp_path):
    write(tmp_path / "shipping", "b", VALID.format(id="b"))
    write(tmp_path, "a", VALID.format(id="a"))
    assert [a.id for a in load_articles(tmp_path, LANGS)] == ["a", "b"]


def test_a_missing_folder_is_an_error_naming_it(tmp_path):
    with pytest.raises(ConfigError, match="folder not found") as info:
        load_articles(tmp_path / "nope", LANGS)
    assert str(tmp_path / "nope") in str(info.value)


def test_an_empty_folder_is_an_error(tmp_path):
    (tmp_path / "README.md").write_text("only a readme\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"no articles") as info:
        load_articles(tmp_path, LANGS)
    assert str(tmp_path) in str(info.value)


def test_no_languages_is_a_callers_bug(tmp_path):
    write(tmp_path, "x", VALID.format(id="x"))
    with pytest.raises(ValueError, match="at least one language"):
        load_articles(tmp_path, [])


def test_missing_front_matter(tmp_path):
    message = load_error(tmp_path, "<!-- lang: en -->\nHello.\n")
    assert ":1: front matter: missing front matter" in message


def test_front_matter_that_is_never_closed(tmp_path):
    text = VALID.format(id="reset-password").replace("---\n<!--", "<!--")
    assert "front matter is not closed" in load_error(tmp_path, text)


def test_yaml_error_names_the_line_in_the_file(tmp_path):
    text = VALID.format(id="reset-password").replace(
        "tags: [account, login]", "tags: [account, login"
    )
    message = load_error(tmp_path, text)
    assert "invalid YAML" in message
    # The flow list opens on line 3; PyYAML notices the problem on line 4 or later.
    assert re.search(r"reset-password\.md:[3-9]: front matter", message), message


def test_front_matter_that_is_not_a_mapping(tmp_path):
    message = load_error(tmp_path, "---\n- id\n---\n<!-- lang: en -->\nHi.\n")
    assert "must be a YAML mapping" in message


def test_a_key_given_twice_is_a_yaml_error(tmp_path):
    text = VALID.format(id="reset-password").replace(
        "  sl: Kako ponastavim geslo?", "  en: Kako ponastavim geslo?"
    )
    message = load_error(tmp_path, text)
    assert "key 'en' given twice" in message
    assert "reset-password.md:8:" in message


def test_an_unknown_key_suggests_the_right_one(tmp_path):
    text = VALID.format(id="reset-password").replace("intents:", "intent:")
    message = load_error(tmp_path, text)
    assert "reset-password.md:4: intent: unknown front-matter key" in message
    assert "did you mean 'intents'?" in message


def test_missing_id(tmp_path):
    text = VALID.format(id="reset-password").replace("id: reset-password\n", "")
    message = load_error(tmp_path, text)
    assert "id: is missing" in message
    assert "add 'id: reset-password'" in message


def test_id_must_equal_the_file_name(tmp_path):
    message = load_error(tmp_path, VALID.format(id="password-reset"))
    assert "reset-password.md:2: id: 'password-reset' does not match the file name" in (
        message
    )
    assert "rename the file to 'password-reset.md'" in message


def test_id_must_be_a_lowercase_slug(tmp_path):
    message = load_error(tmp_path, VALID.format(id="Reset_Password"), "Reset_Password")
    assert "is not a lowercase slug" in message


def test_duplicate_ids_in_different_sub_folders(tmp_path):
    first = write(
        tmp_path / "account", "reset-password", VALID.format(id="reset-password")
    )
    second = write(
        tmp_path / "login", "reset-password", VALID.format(id="reset-password")
    )
    with pytest.raises(ConfigError) as info:
        load_articles(tmp_path, LANGS)
    message = str(info.value)
    assert f"{second}: id: duplicate id 'reset-password', already used by {first}" in (
        message
    )


def test_missing_title(tmp_path):
    text = VALID.format(id="reset-password")
    start = text.index("title:")
    text = text[:start] + text[text.index("---\n<!--") :]
    message = load_error(tmp_path, text)
    assert "title: is missing" in message


def test_title_that_is_not_a_mapping(tmp_path):
    text = re.sub(
        r"title:\n(  .*\n)+", "title: Forgot password\n", VALID.format(id="x")
    )
    assert "title: must be a mapping of language to title" in load_error(
        tmp_path, text, "x"
    )


@pytest.mark.parametrize("lang", LANGS)
def test_missing_title_for_a_required_language(tmp_path, lang):
    text = re.sub(rf"\n  {lang}: .*", "", VALID.format(id="reset-password"))
    message = load_error(tmp_path, text)
    assert f"title.{lang}: missing title for required language '{lang}'" in message


def test_empty_title_counts_as_missing(tmp_path):
    text = VALID.format(id="x").replace("sl: Kako ponastavim geslo?", 'sl: "  "')
    assert "title.sl: missing title" in load_error(tmp_path, text, "x")


def test_title_in_an_unknown_language(tmp_path):
    text = VALID.format(id="x").replace("  sl: Kako", "  de: Passwort\n  sl: Kako")
    message = load_error(tmp_path, text, "x")
    assert "title.de: unknown language 'de'" in message


def test_tags_must_be_a_list(tmp_path):
    text = VALID.format(id="x").replace("tags: [account, login]", "tags: account")
    assert "tags: must be a list, got str" in load_error(tmp_path, text, "x")


def test_intents_must_be_valid_names(tmp_path):
    text = VALID.format(id="x").replace("[reset_password]", "[reset password]")
    assert "intents: 'reset password' is not a valid name" in load_error(
        tmp_path, text, "x"
    )


@pytest.mark.parametrize("lang", LANGS)
def test_missing_body_for_a_required_language(tmp_path, lang):
    text = VALID.format(id="reset-password")
    start = text.index(f"<!-- lang: {lang} -->")
    end = text.find("<!-- lang:", start + 1)
    text = text[:start] + (text[end:] if end != -1 else "")
    message = load_error(tmp_path, text)
    assert f"body.{lang}: missing body for required language '{lang}'" in message
    assert f"add a section starting with '<!-- lang: {lang} -->'" in message


def test_empty_body_names_the_line_of_its_marker(tmp_path):
    text = re.sub(
        r"<!-- lang: ar -->\n.*\n", "<!-- lang: ar -->\n\n   \n", VALID.format(id="x")
    )
    message = load_error(tmp_path, text, "x")
    assert "x.md:14: body.ar: empty body" in message


def test_unknown_language_marker(tmp_path):
    text = VALID.format(id="x").replace("<!-- lang: sl -->", "<!-- lang: si -->")
    message = load_error(tmp_path, text, "x")
    assert "x.md:16: language marker: unknown language 'si'" in message
    assert "use one of en, ar, sl" in message


def test_uppercase_language_marker_is_unknown(tmp_path):
    text = VALID.format(id="x").replace("<!-- lang: en -->", "<!-- lang: EN -->")
    assert "unknown language 'EN'" in load_error(tmp_path, text, "x")


@pytest.mark.parametrize(
    "marker", ["<!-- language: sl -->", "<!-- lang sl -->", "<!--LANG: sl-->"]
)
def test_malformed_language_marker_is_not_silently_body_text(tmp_path, marker):
    text = VALID.format(id="x").replace("<!-- lang: sl -->", marker)
    message = load_error(tmp_path, text, "x")
    assert "x.md:16: language marker: malformed language marker" in message


def test_marker_with_extra_spaces_is_fine(tmp_path):
    text = VALID.format(id="x").replace("<!-- lang: sl -->", "  <!--lang:sl   -->")
    write(tmp_path, "x", text)
    [article] = load_articles(tmp_path, LANGS)
    assert article.body["sl"].startswith("Odprite")


def test_a_language_section_given_twice(tmp_path):
    text = VALID.format(id="x") + "<!-- lang: en -->\nAgain.\n"
    message = load_error(tmp_path, text, "x")
    assert (
        "x.md:18: body.en: second 'en' section (the first starts at line 10)" in message
    )


def test_text_between_front_matter_and_first_marker(tmp_path):
    text = VALID.format(id="x").replace(
        "---\n<!-- lang: en", "---\nIntro.\n<!-- lang: en"
    )
    assert "x.md:10: body: text before the first language marker" in load_error(
        tmp_path, text, "x"
    )


def test_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "x.md"
    path.write_bytes(VALID.format(id="x").encode("utf-8").replace(b"Kako", b"\xe8\xe8"))
    with pytest.raises(ConfigError, match="not valid UTF-8") as info:
        load_articles(tmp_path, LANGS)
    assert str(path) in str(info.value)


def test_the_first_error_is_the_same_whatever_the_file_system_order(tmp_path):
    write(tmp_path, "b", VALID.format(id="wrong-b"))
    write(tmp_path, "a", VALID.format(id="wrong-a"))
    for _ in range(3):
        with pytest.raises(ConfigError, match=r"a\.md:2: id: 'wrong-a'"):
            load_articles(tmp_path, LANGS)


# --- front-matter questions (customer phrasings indexed beside the article) ------------


def with_questions(block: str) -> str:
    return VALID.format(id="reset-password").replace("title:", block + "title:", 1)


def test_questions_are_read_per_language_including_languages_without_native_data(tmp_path):
    path = write(tmp_path, "reset-password", with_questions(
        'questions:\n  en: ["lost my  pasword", "cant sign in"]\n  de: ["passwort vergessen"]\n'
    ))
    article = parse_article(path, LANGS)
    assert article.questions == {
        "en": ("lost my pasword", "cant sign in"), "de": ("passwort vergessen",)
    }


def test_a_changed_question_changes_the_content_hash(tmp_path):
    one = write(tmp_path / "a", "reset-password", with_questions('questions:\n  en: ["x y"]\n'))
    two = write(tmp_path / "b", "reset-password", with_questions('questions:\n  en: ["x z"]\n'))
    assert content_hash([parse_article(one, LANGS)]) != content_hash(
        [parse_article(two, LANGS)]
    )


@pytest.mark.parametrize(
    ("block", "line", "words"),
    [
        ('questions: "how do i"\n', 5, "must be a mapping of language"),
        ('questions:\n  en: "one question"\n', 6, "must be a list of questions"),
        ('questions:\n  en: ["ok", ""]\n', 6, "not a non-empty one-line text"),
        ('questions:\n  en: ["ok"]\n  sl: ["a", {b: c}]\n', 7, "not a non-empty"),
        ('questions:\n  en: ["same", "same"]\n', 6, "listed twice"),
        ('questions:\n  EN: ["x"]\n', 6, "not a language code"),
    ],
)
def test_a_broken_questions_list_names_file_line_and_fix(tmp_path, block, line, words):
    message = load_error(tmp_path, with_questions(block))
    assert f"reset-password.md:{line}" in message
    assert words in message and "fix:" in message

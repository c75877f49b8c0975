"""bot.translate: offline splitting, protection, packages, routing, cache and engines.

Every translation here runs the real tiny German ↔ English models
(tests/fixtures/argos, built by make_tiny_models.py) through CTranslate2, and the
argostranslate engine through argostranslate itself; nothing is mocked.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.settings import Section
from bot.translate import (
    ArgosEngine,
    CTranslate2Engine,
    PackageError,
    TranslationSettings,
    TranslationUnavailable,
    Translator,
    flag_in_bot_events,
    install_package,
    installed_packages,
    language_fallback_needed,
    protect,
    read_package,
    remove_package,
    restore,
    segments,
    split_sentences,
)
from tests.conftest import ROOT

_spec = importlib.util.spec_from_file_location(
    "argos_phrases", ROOT / "tests" / "fixtures" / "argos" / "phrases.py"
)
assert _spec and _spec.loader
phrases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(phrases)


# ----------------------------------------------------------------- splitting


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("Hi! How are you? Fine.", ["Hi!", "How are you?", "Fine."]),
        ("Das ist z.B. gut. Und das?", ["Das ist z.B. gut.", "Und das?"]),
        ("Das ist z. B. gut. Und das!", ["Das ist z. B. gut.", "Und das!"]),
        ("Wir liefern am 3. Mai. Danke", ["Wir liefern am 3. Mai.", "Danke"]),
        ("Call Dr. Smith. He knows.", ["Call Dr. Smith.", "He knows."]),
        ("Version 2.5 costs 7.90 EUR. Yes.", ["Version 2.5 costs 7.90 EUR.", "Yes."]),
        ("مرحبا. كيف حالك؟ أين طلبي", ["مرحبا.", "كيف حالك؟", "أين طلبي"]),
        ('"Quoted." Next one.', ['"Quoted."', "Next one."]),
        ("lower case after a dot. stays one", ["lower case after a dot. stays one"]),
        ("   ", []),
        ("", []),
    ],
)
def test_sentences_are_split_offline(text: str, sentences: list[str]) -> None:
    assert split_sentences(text) == sentences


def test_lines_are_paragraphs_and_empty_lines_survive() -> None:
    assert segments("Title\n\nOne. Two.") == [["Title"], [], ["One.", "Two."]]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "👍",
        "a" * 5000,
        "\x00\u202e",
        "Ça va? Ja. نعم.",
        "{not a placeholder",
        "1. 2. 3.",
    ],
)
def test_naughty_strings_never_break_the_splitter(text: str) -> None:
    joined = " ".join(split_sentences(text))
    assert joined.split() == text.split()


def test_placeholders_urls_and_emails_are_protected_and_restored() -> None:
    text = (
        "Ticket {ticket_ref}: see https://lumo.example/a/b. "
        "Or write to help@lumo.example."
    )
    masked, spans = protect(text)
    assert masked == "Ticket {0}: see {1}. Or write to {2}."
    assert spans == ("{ticket_ref}", "https://lumo.example/a/b", "help@lumo.example")
    assert restore(masked, spans) == (text, ())
    assert restore("Ticket {0}: siehe {1}.", spans) == (
        "Ticket {ticket_ref}: siehe https://lumo.example/a/b.",
        ("help@lumo.example",),
    )


# ------------------------------------------------------------------ packages


def packages(tmp_path: Path, *files: Path) -> Path:
    folder = tmp_path / "packages"
    for file in files:
        install_package(file, folder)
    return folder


def snapshot(folder: Path) -> list[str]:
    if not folder.exists():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_a_fixture_package_installs_and_lists(tmp_path: Path) -> None:
    folder = tmp_path / "packages"
    info, replaced = install_package(phrases.DE_EN_PACKAGE, folder)
    assert (info.from_code, info.to_code, replaced) == ("de", "en", None)
    assert info.path == folder / "translate-de_en"
    assert info.splitter is None  # no bundled splitter: we split ourselves
    assert [p.pair for p in installed_packages(folder)] == [("de", "en")]
    _, replaced = install_package(phrases.DE_EN_PACKAGE, folder)
    assert replaced is not None and replaced.pair == ("de", "en")
    assert [p.pair for p in installed_packages(folder)] == [("de", "en")]
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no leftovers


def _rezip(source: Path, target: Path, edit) -> Path:  # type: ignore[no-untyped-def]
    """A copy of ``source``, members changed by ``edit(name, data) -> data | None``."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as dst:
        for item in src.infolist():
            data = edit(item.filename, src.read(item.filename))
            if data is not None:
                dst.writestr(item.filename, data)
    return target


def _broken(tmp_path: Path, kind: str) -> Path:
    good = phrases.DE_EN_PACKAGE
    bad = tmp_path / f"{kind}.argosmodel"
    raw = good.read_bytes()
    if kind == "not-a-zip":
        bad.write_bytes(b"<html>404 Not Found</html>")
    elif kind == "truncated":
        bad.write_bytes(raw[: len(raw) // 2])
    elif kind == "flipped-byte":
        # A byte inside the compressed model data: the CRC check catches it.
        data = bytearray(raw)
        data[len(data) // 3] ^= 0xFF
        bad.write_bytes(bytes(data))
    elif kind == "no-metadata":
        _rezip(good, bad, lambda n, d: None if n.endswith("metadata.json") else d)
    elif kind == "bad-json":
        _rezip(good, bad, lambda n, d: b"{oops" if n.endswith("metadata.json") else d)
    elif kind == "sbd-package":
        _rezip(
            good,
            bad,
            lambda n, d: (
                json.dumps({"type": "sbd"}).encode()
                if n.endswith("metadata.json")
                else d
            ),
        )
    elif kind == "no-model":
        _rezip(good, bad, lambda n, d: None if "/model/" in n else d)
    elif kind == "no-sentencepiece":
        _rezip(good, bad, lambda n, d: None if n.endswith("sentencepiece.model") else d)
    elif kind == "truncated-model":
        _rezip(
            good, bad, lambda n, d: d[: len(d) // 2] if n.endswith("model.bin") else d
        )
    elif kind == "two-folders":
        _rezip(good, bad, lambda n, d: d)
        with zipfile.ZipFile(bad, "a") as z:
            z.writestr("other/metadata.json", "{}")
    elif kind == "zip-slip":
        _rezip(good, bad, lambda n, d: d)
        with zipfile.ZipFile(bad, "a") as z:
            z.writestr("../evil.txt", "x")
    else:
        raise AssertionError(kind)
    return bad


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("not-a-zip", "not a zip archive"),
        ("truncated", "not a zip archive"),
        ("flipped-byte", "damaged"),
        ("no-metadata", "no metadata.json"),
        ("bad-json", "not valid JSON"),
        ("sbd-package", "not a translation package"),
        ("no-model", "CTranslate2 model"),
        ("no-sentencepiece", "no sentencepiece.model"),
        ("truncated-model", "does not load"),
        ("two-folders", "exactly one folder"),
        ("zip-slip", "unsafe path"),
    ],
)
def test_broken_files_get_a_clear_error_and_change_nothing(
    tmp_path: Path, kind: str, message: str
) -> None:
    folder = packages(tmp_path, phrases.EN_DE_PACKAGE)
    before = snapshot(folder)
    bad = _broken(tmp_path, kind)
    with pytest.raises(PackageError, match=message) as err:
        install_package(bad, folder)
    assert str(bad) in str(err.value)
    assert snapshot(folder) == before
    assert not (tmp_path / "evil.txt").exists()


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(PackageError, match="no such file"):
        install_package(tmp_path / "nope.argosmodel", tmp_path / "packages")


def test_remove_takes_one_pair_and_reports_it(tmp_path: Path) -> None:
    folder = packages(tmp_path, phrases.DE_EN_PACKAGE, phrases.EN_DE_PACKAGE)
    removed = remove_package(folder, "de", "en")
    assert [p.pair for p in removed] == [("de", "en")]
    assert [p.pair for p in installed_packages(folder)] == [("en", "de")]
    assert remove_package(folder, "de", "en") == []


def test_a_broken_installed_folder_is_skipped_not_fatal(tmp_path: Path) -> None:
    folder = packages(tmp_path, phrases.DE_EN_PACKAGE)
    (folder / "half-copied").mkdir()
    assert [p.pair for p in installed_packages(folder)] == [("de", "en")]
    with pytest.raises(PackageError, match=r"no metadata\.json"):
        read_package(folder / "half-copied")


# ------------------------------------------------------------------ settings


def section(data: dict) -> Section:  # type: ignore[type-arg]
    return Section("translation", data, ROOT / "supportbot.yml", ROOT)


def test_the_projects_settings_are_valid() -> None:
    from bot.settings import load_settings

    settings = TranslationSettings.from_settings(load_settings(ROOT / "supportbot.yml"))
    assert settings.pivot == "en"
    assert settings.packages_dir == ROOT / "var" / "translation" / "packages"
    assert settings.allows("inbound") and settings.allows("outbound")


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"pivto": "en"}, "translation.pivto"),
        ({"pivot": "English"}, "translation.pivot"),
        ({"engine": "google"}, "translation.engine"),
        ({"inbound": "yes"}, "translation.inbound"),
        ({"notice": "on"}, "translation.notice"),
        ({"notice": {"de": ""}}, "translation.notice"),
        ({"cache_size": -1}, "translation.cache_size"),
        ({"threads": 0}, "translation.threads"),
        ({"packages_dir": 3}, "translation.packages_dir"),
    ],
)
def test_bad_settings_name_file_and_key(data: dict, key: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ConfigError) as err:
        TranslationSettings.from_section(section(data))
    assert err.value.key == key
    assert "supportbot.yml" in str(err.value)


def test_a_missing_section_means_defaults(tmp_path: Path) -> None:
    settings = TranslationSettings.from_section(section({}))
    assert (
        settings.enabled and settings.pivot == "en" and settings.engine == "ctranslate2"
    )
    assert settings.notice == {}
    off = TranslationSettings.from_section(
        section({"notice": False, "outbound": False})
    )
    assert off.notice == {} and not off.allows("outbound") and off.allows("inbound")


# ---------------------------------------------------------------- translator


@pytest.fixture(scope="module")
def articles_en() -> dict[str, str]:
    from kb_index.articles import load_articles

    loaded = load_articles(ROOT / "data" / "kb", ["en", "ar", "sl"])
    return {a.id: a.body["en"] for a in loaded}


@pytest.fixture()
def translator(tmp_path: Path) -> Translator:
    folder = packages(tmp_path, phrases.DE_EN_PACKAGE, phrases.EN_DE_PACKAGE)
    return Translator(TranslationSettings(packages_dir=folder))


@pytest.mark.parametrize(("german", "english"), sorted(phrases.DE_EN.items()))
def test_the_tiny_model_translates_what_it_memorised(
    translator: Translator, german: str, english: str
) -> None:
    result = translator.translate(german, "de", "en")
    assert result.text == english
    assert result.path == ("de", "en")
    assert result.ms > 0 and not result.cached


def test_english_responses_and_articles_become_german(translator: Translator) -> None:
    greeting = (
        "Hi! I'm Lumo's assistant. Ask me about orders, delivery, returns, payments or "
        'Lumo Plus — or type "agent" to reach a person.'
    )
    result = translator.translate(greeting, "en", "de")
    assert result.text == phrases.german(greeting)
    assert result.text.startswith("Hallo! Ich bin der Assistent von Lumo. Fragen Sie")


def test_urls_and_emails_pass_through_unchanged(
    translator: Translator, articles_en: dict[str, str]
) -> None:
    body = articles_en["order-status"]
    result = translator.translate(body, "en", "de")
    assert result.complete
    assert result.text == phrases.german(body)
    for kept in (
        "https://lumo.example/account/orders",
        "https://lumo.example/order-status",
        "support@lumo.example",
    ):
        assert kept in result.text
    assert (
        "Als Gast bestellt? Geben Sie Ihre Bestellnummer und E-Mail-Adresse unter "
        "https://lumo.example/order-status ein." in result.text
    )


def test_the_cache_answers_repeats_and_forgets_the_oldest(tmp_path: Path) -> None:
    folder = packages(tmp_path, phrases.DE_EN_PACKAGE)
    small = Translator(TranslationSettings(packages_dir=folder, cache_size=2))
    first = small.translate("Danke", "de", "en")
    again = small.translate("Danke", "de", "en")
    assert (first.cached, again.cached, again.text) == (False, True, "Thanks")
    small.translate("Hallo", "de", "en")
    small.translate("Tschüss", "de", "en")  # evicts "Danke"
    assert not small.translate("Danke", "de", "en").cached
    assert (small.hits, small.misses) == (1, 4)


def test_a_batch_equals_one_by_one(translator: Translator) -> None:
    texts = ["Danke", "Wo ist meine Bestellung?", "Danke", "Hallo, guten Tag\nTschüss"]
    batch = translator.translate_batch(texts, "de", "en")
    assert [r.text for r in batch] == [
        "Thanks",
        "Where is my order?",
        "Thanks",
        "Hello, good morning\nBye",
    ]
    fresh = Translator(translator.settings)
    assert [fresh.translate(t, "de", "en").text for t in texts] == [
        r.text for r in batch
    ]


def test_routing_is_direct_else_through_the_pivot(tmp_path: Path) -> None:
    folder = packages(tmp_path, phrases.DE_EN_PACKAGE, phrases.EN_DE_PACKAGE)
    # A third language for a real pivot route: the en→de model relabelled en→fr.
    fr = folder / "translate-en_fr"
    shutil.copytree(folder / "translate-en_de", fr)
    meta = json.loads((fr / "metadata.json").read_text())
    (fr / "metadata.json").write_text(json.dumps({**meta, "to_code": "fr"}))
    t = Translator(TranslationSettings(packages_dir=folder))
    assert t.route("de", "en") == ("de", "en")
    assert t.route("de", "fr") == ("de", "en", "fr")
    assert t.route("fr", "de") is None
    assert t.route("de", "de") == ("de",)
    result = t.translate("Wo ist meine Bestellung?", "de", "fr")
    assert result.path == ("de", "en", "fr")
    assert result.text == "Wo ist meine Bestellung?"  # de → "Where is my order?" → "de"
    with pytest.raises(TranslationUnavailable, match="no translation path fr→de"):
        t.translate("x", "fr", "de")


def test_installs_and_removals_are_seen_without_a_restart(tmp_path: Path) -> None:
    folder = packages(tmp_path, phrases.DE_EN_PACKAGE)
    t = Translator(TranslationSettings(packages_dir=folder))
    assert t.can_translate("de", "en") and not t.can_translate("en", "de")
    install_package(phrases.EN_DE_PACKAGE, folder)
    assert t.can_translate("en", "de")
    remove_package(folder, "de", "en")
    assert not t.can_translate("de", "en", "inbound")


def test_switches_turn_flows_off(tmp_path: Path) -> None:
    folder = packages(tmp_path, phrases.DE_EN_PACKAGE)
    off = Translator(TranslationSettings(packages_dir=folder, flows={"inbound": False}))
    assert not off.can_translate("de", "en", "inbound")
    assert off.can_translate("de", "en")  # only that flow is off
    disabled = Translator(TranslationSettings(packages_dir=folder, enabled=False))
    assert disabled.route("de", "en") is None


def test_both_engines_give_identical_output(tmp_path: Path) -> None:
    folder = packages(tmp_path, phrases.DE_EN_PACKAGE, phrases.EN_DE_PACKAGE)
    for package, texts in (
        (folder / "translate-de_en", list(phrases.DE_EN)),
        (folder / "translate-en_de", [*phrases.EN_DE, "One. Two! Unknown words here?"]),
    ):
        info = read_package(package)
        direct = CTranslate2Engine(info).translate_paragraphs(texts)
        argos = ArgosEngine(info).translate_paragraphs(texts)
        assert direct == argos
    assert direct[: len(phrases.EN_DE)] == list(phrases.EN_DE.values())


def test_argostranslate_never_reaches_for_the_network(tmp_path: Path) -> None:
    """The argos engine splits with our splitter: MiniSBD would download a model."""
    folder = packages(tmp_path, phrases.DE_EN_PACKAGE)
    t = Translator(TranslationSettings(packages_dir=folder), engine="argostranslate")
    result = t.translate("Wo ist meine Bestellung? Danke", "de", "en")
    assert result.text == "Where is my order? Thanks"
    assert t.engine_name == "argostranslate"


# -------------------------------------------------- conversation-level helpers


def test_the_apology_is_due_once_and_only_for_unservable_languages() -> None:
    kwargs = {"native": ("en", "ar", "sl"), "default": "en"}
    assert language_fallback_needed(
        "en", "de", can_serve=False, already_said=False, **kwargs
    )
    assert not language_fallback_needed(
        "en", "de", can_serve=False, already_said=True, **kwargs
    )
    assert not language_fallback_needed(
        "en", "de", can_serve=True, already_said=False, **kwargs
    )
    assert not language_fallback_needed(
        "sl", "hbs", can_serve=False, already_said=False, **kwargs
    )
    assert not language_fallback_needed(
        "en", "en", can_serve=True, already_said=False, **kwargs
    )
    assert not language_fallback_needed(
        "en", None, can_serve=False, already_said=False, **kwargs
    )


def test_flags_are_found_in_json_events() -> None:
    events = [
        {"event": "user", "metadata": {"machine_translated": True}},
        {"event": "bot", "metadata": {"language_fallback": True}},
    ]
    assert flag_in_bot_events(events, "language_fallback")
    assert not flag_in_bot_events(events, "machine_translated")


def test_module_imports_nothing_heavy() -> None:
    """bot.translate loads in the Rasa env: no argostranslate/torch at import time."""
    import subprocess
    import sys

    code = (
        "import sys, bot.translate; "
        "print(sorted(m for m in ('torch','argostranslate','ctranslate2') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    assert out.stdout.strip() == "[]"


def test_native_languages_are_the_nlu_data_folders() -> None:
    """languages.supported (what is never translated) is what data/nlu has data for."""
    from bot.language import LanguageSettings
    from bot.settings import load_settings

    folders = sorted(
        p.name for p in (ROOT / "data" / "nlu").iterdir() if any(p.glob("*.yml"))
    )
    settings = load_settings(ROOT / "supportbot.yml").section("languages")
    assert sorted(LanguageSettings.from_section(settings).supported) == folders

"""bot.language.codes and the packages behind it (3.11 env; the Rasa env has its own
install check in tests/bot/nlu/test_language_component.py).
"""

from __future__ import annotations

import importlib.metadata as metadata

from bot.language import GROUP_CODE, GROUP_MEMBERS, KNOWN_LANGUAGES


def test_language_packages_are_the_pinned_versions() -> None:
    assert metadata.version("lingua-language-detector") == "2.1.1"
    assert metadata.version("simplemma") == "2.0.0"
    assert metadata.version("py3langid") == "0.4.0"


def test_known_languages_are_those_every_evidence_source_has() -> None:
    """A code is accepted only if py3langid, lingua and simplemma all cover it."""
    from lingua import Language
    from py3langid.langid import MODEL_FILE, LanguageIdentifier
    from simplemma.strategies.dictionaries.dictionary_factory import SUPPORTED_LANGUAGES

    py3langid = set(LanguageIdentifier.from_model_file(MODEL_FILE).labels)
    lingua = {lang.iso_code_639_1.name.lower() for lang in Language.all()}
    simplemma = set(SUPPORTED_LANGUAGES)
    if GROUP_CODE in simplemma:
        simplemma |= GROUP_MEMBERS
    assert KNOWN_LANGUAGES - {GROUP_CODE} == py3langid & lingua & simplemma

"""The translation seam: no models means no translation, never an error."""

from __future__ import annotations

import types

from bot.inbox.translation import NoTranslation, _BotTranslate, load_translator


def test_without_translation_models_nothing_is_translated() -> None:
    assert NoTranslation().translate("Živjo", "sl", "en") is None
    assert load_translator().translate("", "sl", "en") is None


def test_the_adapter_passes_a_translation_through_and_treats_failures_as_no_path() -> (
    None
):
    def translate(text: str, source: str, target: str) -> str:
        if (source, target) != ("en", "sl"):
            raise LookupError(f"no pair {source}->{target}")
        return {"Hello": "Pozdravljeni"}[text]

    adapter = _BotTranslate(types.SimpleNamespace(translate=translate))
    assert adapter.translate("Hello", "en", "sl") == "Pozdravljeni"
    assert adapter.translate("Hello", "en", "ar") is None
    assert adapter.translate("Hello", "en", "en") is None

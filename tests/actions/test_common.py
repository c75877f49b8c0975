"""actions.common: what the actions hand to the models is bounded.

A customer can send a very long text; translating it for agents would run the model
sentence by sentence over all of it and keep the result in the translator's cache.
Real translator over the tiny fixture models (tests/fixtures/argos).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from actions.common import MAX_TRANSLATED_CHARS, get_translator, transcript_for_agents
from bot import services
from bot.tickets.model import Turn
from bot.translate import install_package
from tests.conftest import ROOT, write_settings

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)
FIXTURES = ROOT / "tests" / "fixtures" / "argos"


@pytest.fixture()
def with_de_en(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    folder = tmp_path / "packages"
    install_package(FIXTURES / "translate-de_en-tiny.argosmodel", folder)
    settings = write_settings(tmp_path, translation={"packages_dir": str(folder)})
    monkeypatch.setenv("SUPPORTBOT_CONFIG", str(settings))
    services.reset()
    yield
    services.reset()


async def test_an_over_long_turn_is_left_in_the_original_for_agents(with_de_en: None) -> None:
    short = Turn(T0, "customer", "Wo ist meine Bestellung?", language="de")
    long = Turn(T0, "customer", "Wo ist meine Bestellung? " * 100, language="de")
    assert len(long.text) > MAX_TRANSLATED_CHARS
    out = await transcript_for_agents([short, long], "orders-en")
    assert out[0].translation == "Where is my order?"
    assert out[1] == long  # the original, untouched: agents read it as written
    translator = get_translator()
    assert translator.misses == 1  # the long text never reached the model or the cache


async def test_a_turn_at_the_limit_is_still_translated(with_de_en: None) -> None:
    sentence = "Wo ist meine Bestellung? "
    text = (sentence * (MAX_TRANSLATED_CHARS // len(sentence))).strip()
    assert len(text) <= MAX_TRANSLATED_CHARS
    [out] = await transcript_for_agents(
        [Turn(T0, "customer", text, language="de")], "orders-en"
    )
    assert out.translation is not None and out.translation.startswith("Where is my order?")

"""Settings copies for bots started beside the real one (end-to-end tests, benchmarks)."""

from __future__ import annotations

from pathlib import Path

from bot.settings import PROJECT_ROOT, load_settings, write_isolated_copy


def test_a_copy_shares_the_read_only_inputs_and_keeps_its_own_state(tmp_path: Path) -> None:
    settings = load_settings(write_isolated_copy(tmp_path))
    kb = settings.section("knowledge_base")
    real = load_settings(PROJECT_ROOT / "supportbot.yml").section("knowledge_base")
    for key in ("articles", "index_dir", "model"):
        assert kb.path(key).resolve() == real.path(key).resolve()
    assert settings.section("tickets").path("database") == tmp_path / "tickets.sqlite3"
    # Every other relative path now resolves inside the copy's folder.
    packages = settings.section("translation").path("packages_dir")
    assert packages.is_relative_to(tmp_path)


def test_overrides_replace_keys_within_their_section_only(tmp_path: Path) -> None:
    settings = load_settings(
        write_isolated_copy(tmp_path, escalation={"fallbacks_before_human": 3})
    )
    assert settings.section("escalation").get("fallbacks_before_human") == 3
    assert settings.section("languages").get("supported") == ["en", "ar", "sl"]

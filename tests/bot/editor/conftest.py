"""A tiny Rasa project (3 intents in English and Slovenian, 2 articles) for editor tests.

Small enough that training its NLU pipeline for a few epochs takes seconds, real enough
that Rasa trains and parses it exactly as it does the shipped project.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.editor.validate import Project
from bot.settings import load_settings
from tests.conftest import ROOT, write_settings

EXAMPLES = {
    "en": {
        "greet": [
            "hi",
            "hello",
            "hey there",
            "good morning",
            "hello bot",
            "hiya",
            "good evening",
            "hey",
            "hi there",
            "greetings",
        ],
        "order_status": [
            "where is my order",
            "where is my package",
            "order status",
            "has my order shipped",
            "track my parcel",
            "my parcel is late",
            "when will my order arrive",
            "status of my delivery",
            "where's my stuff",
            "package not here yet",
        ],
        "reset_password": [
            "i forgot my password",
            "reset my password",
            "can't log in",
            "password reset link",
            "locked out of my account",
            "new password please",
            "login does not work",
            "forgot password",
            "change my password",
            "cannot sign in",
        ],
    },
    "sl": {
        "greet": [
            "živjo",
            "zdravo",
            "dober dan",
            "dobro jutro",
            "hej",
            "pozdravljeni",
            "dober večer",
            "čao",
            "lep pozdrav",
            "ojla",
        ],
        "order_status": [
            "kje je moje naročilo",
            "kje je moj paket",
            "stanje naročila",
            "ali je paket že poslan",
            "sledenje paketu",
            "paket zamuja",
            "kdaj pride naročilo",
            "status dostave",
            "kje so moje stvari",
            "paketa še ni",
        ],
        "reset_password": [
            "pozabil sem geslo",
            "ponastavi geslo",
            "ne morem se prijaviti",
            "povezava za novo geslo",
            "račun je zaklenjen",
            "novo geslo prosim",
            "prijava ne deluje",
            "pozabljeno geslo",
            "spremeni geslo",
            "ne gre prijava",
        ],
    },
}

DOMAIN = """\
version: "3.1"
intents:
  - greet
  - order_status
  - reset_password
actions:
  - action_handle_fallback
slots:
  language:
    type: text
    influence_conversation: false
    mappings:
      - type: custom
responses:
  utter_greet:
  - condition:
    - type: slot
      name: language
      value: sl
    text: Živjo!
  - text: Hi!
"""

RULES = """\
version: "3.1"
rules:
- rule: greet
  steps:
  - intent: greet
  - action: utter_greet
"""


def nlu_file(language: str, examples: dict[str, list[str]]) -> str:
    lines = [f"# {language}: tiny test data", 'version: "3.1"', "nlu:"]
    for intent, texts in examples.items():
        lines += [f"- intent: {intent}", "  examples: |"]
        lines += [f"    - {t}" for t in texts]
        lines.append("")
    return "\n".join(lines)


def make_project(
    folder: Path, *, epochs: int = 3, **settings: Any
) -> tuple[Path, Project]:
    """Write the tiny project into ``folder``; returns (settings file, Project)."""
    for language, examples in EXAMPLES.items():
        path = folder / "data" / "nlu" / language / "topics.yml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(nlu_file(language, examples), encoding="utf-8")
    (folder / "data" / "rules").mkdir(parents=True)
    (folder / "data" / "rules" / "rules.yml").write_text(RULES, encoding="utf-8")
    (folder / "data" / "stories").mkdir(parents=True)
    (folder / "domain.yml").write_text(DOMAIN, encoding="utf-8")
    config = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))
    for component in config["pipeline"] + config["policies"]:
        if "epochs" in component:
            component["epochs"] = epochs
    (folder / "config.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    kb = folder / "data" / "kb"
    kb.mkdir(parents=True)
    for article in ("order-status", "reset-password"):
        text = (ROOT / "data" / "kb" / f"{article}.md").read_text(encoding="utf-8")
        meta, body = text.split("\n---\n", 1)
        meta = meta.replace("\n  ar:", "\n  xx-ar:")  # drop Arabic below
        kept = [ln for ln in meta.split("\n") if "xx-ar:" not in ln]
        sections = body.split("<!-- lang: ")
        body = sections[0] + "".join(
            "<!-- lang: " + s for s in sections[1:] if not s.startswith("ar ")
        )
        (kb / f"{article}.md").write_text("\n".join(kept) + "\n---\n" + body, "utf-8")
    overrides = {
        "languages": {"supported": ["en", "sl"], "default": "en"},
        "knowledge_base": {
            "articles": str(kb),
            "index_dir": str(folder / "kb_index"),
            "nlu": str(folder / "data" / "nlu"),  # its own phrasings, not the project's
        },
        "evaluation": {"reports": str(folder / "reports"), "kb_questions": None},
        **settings,
    }
    settings_file = write_settings(folder, **overrides)
    data = yaml.safe_load(settings_file.read_text(encoding="utf-8"))
    data["validation"] = {
        "monolingual_responses": [],
        "button_only_intents": [],
        **settings.get("validation", {}),
    }
    data["evaluation"] = {k: v for k, v in data["evaluation"].items() if v is not None}
    settings_file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return settings_file, Project.from_settings(
        load_settings(settings_file), root=folder
    )


@pytest.fixture()
def tiny(tmp_path: Path) -> tuple[Path, Project]:
    return make_project(tmp_path)


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst

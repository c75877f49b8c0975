"""Read Rasa's NLU training files and domain with line numbers, without Rasa.

Rasa's own reader reports a problem without the line it is on; editors need
``data/nlu/sl/orders.yml:42``. PyYAML's node tree keeps positions: an intent's
``examples: |`` literal block starts on the line after its ``|`` and every example is
one line of it, so each example gets its exact line. The same positions let
:func:`append_example` add one line to a block without re-writing the file (ruamel is not
installed, and a PyYAML round trip would drop the editors' comments).
"""

from __future__ import annotations

import os
import re
import tempfile
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.editor.problems import Problem, where

#: Rasa's inline entity annotation, ``[text](entity)`` / ``[text]{...}``: a customer
#: message containing it would be read as an annotated example.
FALLBACK_INTENT = "nlu_fallback"  # what Rasa's FallbackClassifier predicts
ENTITY_MARKUP = re.compile(r"\[[^\]]*\][({]")


_DROPPED = frozenset("\u0640'’ʼ`")


def normalise(text: str) -> str:
    """The form two examples are compared in: case, accents, punctuation, spaces ignored.

    "Where's my ORDER?" and "wheres my order" are the same example to a classifier fed
    with character n-grams; so are "naročilo" and "narocilo" (customers type both) and
    Arabic with or without short vowels.
    """
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    kept = []
    for ch in decomposed:
        cat = unicodedata.category(ch)
        if cat == "Mn" or ch in _DROPPED:  # accents, harakat, tatweel, apostrophes
            continue
        kept.append(" " if cat[0] in "PSZC" else ch)
    return " ".join("".join(kept).split())


class YamlProblem(Exception):
    """A file is not valid YAML; ``problem`` names the line and column."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.render())
        self.problem = problem


def compose(path: Path) -> yaml.Node | None:
    """The YAML node tree of ``path``; broken YAML raises :class:`YamlProblem`."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise YamlProblem(
            Problem(
                where(path), f"not valid UTF-8 ({exc.reason})", "save the file as UTF-8"
            )
        ) from None
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        col = f", column {mark.column + 1}" if mark else ""
        what = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        raise YamlProblem(
            Problem(
                where(path, line),
                f"invalid YAML{col}: {what}",
                "check indentation (spaces, not tabs), the ':' after each key and "
                "matching quotes on this line or the one above",
            )
        ) from None
    except yaml.YAMLError as exc:  # pragma: no cover - unmarked errors are rare
        raise YamlProblem(Problem(where(path), f"invalid YAML: {exc}")) from None


def mapping_get(node: yaml.Node | None, key: str) -> tuple[yaml.Node, yaml.Node] | None:
    """(key node, value node) of ``key`` in a mapping node, or None."""
    if not isinstance(node, yaml.MappingNode):
        return None
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            return k, v
    return None


def line_of(node: yaml.Node) -> int:
    """1-based line where ``node`` starts."""
    return int(node.start_mark.line) + 1


@dataclass(frozen=True)
class Example:
    text: str
    intent: str
    language: str
    file: Path
    line: int

    @property
    def key(self) -> str:
        return normalise(self.text)


@dataclass
class IntentBlock:
    """One ``- intent: X`` entry in one file, with where its examples block ends."""

    intent: str
    language: str
    file: Path
    line: int
    #: 0-based index of the file line after which a new example is inserted.
    insert_after: int
    #: Indentation of the example lines ("    ").
    indent: str
    examples: list[Example] = field(default_factory=list)


@dataclass
class NLUData:
    """Everything read from ``data/nlu/<language>/*.yml``."""

    blocks: list[IntentBlock] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    @property
    def examples(self) -> list[Example]:
        return [e for b in self.blocks for e in b.examples]

    def intents(self, language: str | None = None) -> set[str]:
        return {
            b.intent
            for b in self.blocks
            if (language is None or b.language == language) and b.examples
        }


def nlu_files(folder: Path) -> Iterator[tuple[str, Path]]:
    """(language, file) for every ``<folder>/<language>/**/*.yml``, sorted."""
    if not folder.is_dir():
        return
    for lang_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        for path in sorted(lang_dir.rglob("*.yml")) + sorted(lang_dir.rglob("*.yaml")):
            yield lang_dir.name, path


def load_nlu(folder: Path) -> NLUData:
    """Parse every NLU file under ``folder`` (one sub-folder per language)."""
    data = NLUData()
    for language, path in nlu_files(folder):
        data.files.append(path)
        try:
            root = compose(path)
        except YamlProblem as exc:
            data.problems.append(exc.problem)
            continue
        _read_file(path, language, root, data)
    return data


def _read_file(
    path: Path, language: str, root: yaml.Node | None, data: NLUData
) -> None:
    lines = path.read_text(encoding="utf-8").split("\n")
    entry = mapping_get(root, "nlu")
    if entry is None:
        data.problems.append(
            Problem(
                where(path, 1),
                "no 'nlu:' list in this file",
                "start the file with 'version: \"3.1\"' and 'nlu:' (see data/nlu/en)",
            )
        )
        return
    _, items = entry
    if not isinstance(items, yaml.SequenceNode):
        data.problems.append(
            Problem(where(path, line_of(items)), "'nlu:' must be a list")
        )
        return
    for item in items.value:
        intent = mapping_get(item, "intent")
        if intent is None:
            continue  # synonyms, regexes, lookup tables: Rasa's validator checks them
        _, intent_node = intent
        if not isinstance(intent_node, yaml.ScalarNode) or not intent_node.value:
            data.problems.append(
                Problem(where(path, line_of(intent_node)), "empty intent name")
            )
            continue
        examples = mapping_get(item, "examples")
        block = IntentBlock(
            intent=intent_node.value,
            language=language,
            file=path,
            line=line_of(intent_node),
            insert_after=intent_node.start_mark.line,
            indent="    ",
        )
        data.blocks.append(block)
        if examples is None:
            data.problems.append(
                Problem(
                    where(path, block.line),
                    f"intent '{block.intent}' has no 'examples:'",
                    "add 'examples: |' and one '- example' line per example below it",
                )
            )
            continue
        _read_examples(path, lines, examples[1], block, data)


def _read_examples(
    path: Path, lines: list[str], node: yaml.Node, block: IntentBlock, data: NLUData
) -> None:
    if not isinstance(node, yaml.ScalarNode):
        data.problems.append(
            Problem(
                where(path, line_of(node)),
                "'examples:' must be a block of '- ' lines",
                "write 'examples: |' and the examples indented below it",
            )
        )
        return
    literal = node.style == "|"
    first = node.start_mark.line + 1 if literal else node.start_mark.line
    content = node.value.split("\n")
    if content and content[-1] == "":
        content.pop()
    last = first
    for offset, raw in enumerate(content):
        line_no = (first + offset + 1) if literal else line_of(node)
        stripped = raw.strip()
        if not stripped:
            continue
        last = first + offset
        if not stripped.startswith("- "):
            data.problems.append(
                Problem(
                    where(path, line_no),
                    f"example line does not start with '- ': {stripped!r}",
                    "write each example as '- text' on its own line",
                )
            )
            continue
        text = stripped[2:].strip()
        if not text:
            data.problems.append(
                Problem(where(path, line_no), "empty example", "delete the line")
            )
            continue
        block.examples.append(
            Example(text, block.intent, block.language, path, line_no)
        )
    if literal and content:
        block.insert_after = last
        file_line = lines[first] if first < len(lines) else ""
        block.indent = file_line[: len(file_line) - len(file_line.lstrip())] or "    "


# --- domain ----------------------------------------------------------------------------


@dataclass
class Response:
    name: str
    line: int
    #: language -> line of its variation; the unconditioned variation is under "".
    languages: dict[str, int] = field(default_factory=dict)


@dataclass
class Domain:
    file: Path
    intents: dict[str, int] = field(default_factory=dict)  # name -> line
    responses: list[Response] = field(default_factory=list)


def load_domain(path: Path, language_slot: str = "language") -> Domain:
    """Intents and responses (with the languages of their variations) of domain.yml.

    Raises:
        YamlProblem: the file is not valid YAML.
    """
    root = compose(path)
    domain = Domain(file=path)
    intents = mapping_get(root, "intents")
    if intents and isinstance(intents[1], yaml.SequenceNode):
        for item in intents[1].value:
            if isinstance(item, yaml.ScalarNode):
                domain.intents[item.value] = line_of(item)
            elif isinstance(item, yaml.MappingNode) and item.value:
                k = item.value[0][0]
                domain.intents[str(k.value)] = line_of(k)
    responses = mapping_get(root, "responses")
    if responses and isinstance(responses[1], yaml.MappingNode):
        for key, variations in responses[1].value:
            response = Response(str(key.value), line_of(key))
            domain.responses.append(response)
            if not isinstance(variations, yaml.SequenceNode):
                continue
            for variation in variations.value:
                lang = _condition_language(variation, language_slot)
                if lang is not None:
                    response.languages.setdefault(lang, line_of(variation))
    return domain


def _condition_language(variation: yaml.Node, slot: str) -> str | None:
    """The language a variation is for: "" if unconditioned, None if on another slot."""
    condition = mapping_get(variation, "condition")
    if condition is None:
        return ""
    data: Any = yaml.safe_load(yaml.serialize(condition[1])) or []
    for cond in data if isinstance(data, list) else []:
        if (
            isinstance(cond, dict)
            and cond.get("type") == "slot"
            and cond.get("name") == slot
        ):
            return str(cond.get("value"))
    return None


# --- writing ---------------------------------------------------------------------------


def append_example(block: IntentBlock, text: str) -> None:
    """Insert ``- text`` as the last example of ``block``, keeping the rest of the file.

    The new file is written beside the old one and renamed over it, so a crash never
    leaves half a file; the caller re-reads it to confirm the example is where expected.
    """
    raw = block.file.read_text(encoding="utf-8")
    lines = raw.split("\n")
    new_line = f"{block.indent}- {text}"
    lines.insert(block.insert_after + 1, new_line)
    write_atomic(block.file, "\n".join(lines))


def append_intent(path: Path, intent: str, text: str) -> None:
    """Append a new ``- intent:`` entry with one example at the end of ``path``."""
    raw = path.read_text(encoding="utf-8")
    if raw and not raw.endswith("\n"):
        raw += "\n"
    raw += f"\n- intent: {intent}\n  examples: |\n    - {text}\n"
    write_atomic(path, raw)


def write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def find_blocks(data: NLUData, intent: str, language: str) -> Sequence[IntentBlock]:
    return [b for b in data.blocks if b.intent == intent and b.language == language]

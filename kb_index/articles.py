"""Knowledge-base articles: parse and validate ``data/kb/**/*.md``.

Article file format
===================

One article per UTF-8 file ``<id>.md`` (a UTF-8 BOM and CRLF line ends are accepted).
Files may sit directly in the folder or in sub-folders of it (``data/kb/returns/...``);
``README.md`` (any case) and names starting with ``.`` (editor back-ups) are skipped.
Text is normalised to Unicode NFC so that the same words give the same hash whatever
the editor saved.

A file is YAML front matter followed by one body section per language::

    ---
    id: shipping-times
    tags: [shipping, delivery]
    intents: [shipping_time]
    title:
      en: How long does delivery take?
      ar: كم تستغرق مدة التوصيل؟
      sl: Koliko časa traja dostava?
    ---
    <!-- lang: en -->
    Markdown body in English.
    <!-- lang: ar -->
    Markdown body in Arabic.
    <!-- lang: sl -->
    Markdown body in Slovenian.

Front matter
    The first line is exactly ``---``; the YAML mapping ends at the next line that is
    exactly ``---``. Keys:

    ``id`` (required)
        Lowercase slug (``a-z``, ``0-9``, single hyphens between words), equal to the
        file name without ``.md`` and unique across the whole folder, sub-folders
        included.
    ``title`` (required)
        Mapping of language code to a non-empty one-line title, one for every required
        language and none for another language.
    ``tags`` (optional, default ``[]``)
        List of non-empty strings, no duplicates.
    ``intents`` (optional, default ``[]``)
        List of Rasa intent names (letters, digits, ``_``, ``-``, ``.``) this article
        answers, no duplicates. The NLU examples of these intents (data/nlu/<lang>/) are
        indexed as customer phrasings of the article (kb_index/questions.py).
    ``questions`` (optional, default none)
        Mapping of language code (any valid code, also one without native data such as
        ``de``) to a list of customer phrasings of the question this article answers,
        one line each, no duplicates within a language. They are indexed beside the NLU
        examples, for articles no intent covers or phrasings the intent's examples lack
        (``bot review`` appends to it). Example::

            questions:
              en: ["how much extra do i pay for postage"]
              sl: ["kolk stane posiljanje"]

    Any other key is an error, so that a typo such as ``intent:`` cannot pass unnoticed.

Body
    A language section starts at a line that is only ``<!-- lang: xx -->`` (spaces
    inside the comment are free; ``xx`` is a required language code, lowercase) and runs
    to the next marker or the end of the file. Every required language has exactly one
    section; a section may not be empty; nothing but blank lines may stand between the
    front matter and the first marker; a line that looks like a marker but is not one
    exactly (``<!-- language: en -->``, ``<!-- lang en -->``) is an error rather than
    body text. The section text is Markdown, stored with surrounding blank lines
    removed. Markers inside a line of text are ordinary text.

Every problem raises :class:`bot.errors.ConfigError` naming ``<file>:<line>`` (where a
line is known), the key and the fix. Files are read in sorted path order, so the first
error reported is the same on every machine.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.errors import ConfigError

__all__ = [
    "ALLOWED_KEYS",
    "HASH_SCHEMA",
    "Article",
    "article_files",
    "content_hash",
    "load_articles",
    "parse_article",
]

#: Front-matter keys an article may have.
ALLOWED_KEYS = ("id", "title", "tags", "intents", "questions")
#: Mixed into :func:`content_hash`; bump it when the meaning of parsed content changes.
HASH_SCHEMA = "kb-articles/2"

_FENCE = "---"
_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_INTENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")
_MARKER = re.compile(r"<!--\s*lang:\s*(?P<code>[^\s>]*)\s*-->")
# Anything that an editor probably meant as a marker: an HTML comment starting "lang".
_MARKER_LIKE = re.compile(r"<!--\s*lang", re.IGNORECASE)
_LANG_CODE = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]+)*")
_README = "readme.md"


class _StrictLoader(yaml.SafeLoader):
    """A SafeLoader that rejects a key given twice in a mapping (PyYAML keeps the last).

    A copied ``en:`` line left unchanged under ``title:`` would otherwise silently lose
    the English title.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


@dataclass(frozen=True)
class Article:
    """One knowledge-base article in every required language.

    Attributes:
        id: Unique slug, equal to the file name without ``.md``.
        title: Language code to title.
        body: Language code to Markdown body.
        tags: Free-form tags, in file order.
        intents: Rasa intents this article answers, in file order.
        questions: Language code to the editors' customer phrasings (front matter
            ``questions:``), in file order.
        source: The file the article was read from; ignored by ``==`` and by
            :func:`content_hash`, so moving the folder changes neither.
    """

    id: str
    title: dict[str, str] = field(hash=False)
    body: dict[str, str] = field(hash=False)
    tags: tuple[str, ...] = ()
    intents: tuple[str, ...] = ()
    questions: dict[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    source: Path = field(default=Path(), compare=False)

    @property
    def languages(self) -> tuple[str, ...]:
        """Language codes the article has, in title order."""
        return tuple(self.title)

    def text(self, lang: str) -> str:
        """Title and body in ``lang``, separated by a blank line (what gets embedded).

        Raises:
            KeyError: The article has no text in ``lang``.
        """
        if lang not in self.title or lang not in self.body:
            raise KeyError(
                f"article {self.id!r} has no text in {lang!r} "
                f"(it has: {', '.join(self.languages)})"
            )
        return f"{self.title[lang]}\n\n{self.body[lang]}"


def load_articles(folder: Path, languages: Sequence[str]) -> list[Article]:
    """Parse and validate every article under ``folder``, sorted by id.

    Args:
        folder: The knowledge-base folder (``knowledge_base.articles`` in
            supportbot.yml).
        languages: Language codes every article must have, and the only ones allowed.

    Returns:
        The articles, sorted by id.

    Raises:
        ConfigError: The folder is missing or holds no article, or a file is invalid
            (see the module docstring for the rules), or two files share an id.
        ValueError: ``languages`` is empty or holds an invalid code (a caller's bug).
    """
    langs = _check_languages(languages)
    folder = Path(folder)
    files = article_files(folder)
    seen: dict[str, Path] = {}
    articles = []
    for path in files:
        article = parse_article(path, langs)
        if article.id in seen:
            raise ConfigError(
                str(path),
                "id",
                f"duplicate id {article.id!r}, already used by {seen[article.id]}",
                "ids are unique across all sub-folders: rename one of the files and "
                "its id",
            )
        seen[article.id] = path
        articles.append(article)
    return sorted(articles, key=lambda a: a.id)


def article_files(folder: Path) -> list[Path]:
    """The article files under ``folder`` in sorted order (README and hidden skipped).

    Raises:
        ConfigError: ``folder`` does not exist, is not a folder or holds no article.
    """
    folder = Path(folder)
    if not folder.is_dir():
        problem = "is not a folder" if folder.exists() else "folder not found"
        raise ConfigError(
            str(folder),
            "knowledge_base.articles",
            problem,
            "create the folder with <id>.md articles, or point "
            "knowledge_base.articles in supportbot.yml at it",
        )
    files = sorted(
        path
        for path in folder.rglob("*.md")
        if path.is_file()
        and path.name.lower() != _README
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    )
    if not files:
        raise ConfigError(
            str(folder),
            "knowledge_base.articles",
            "no articles (*.md other than README.md) in this folder",
            "add at least one <id>.md article (format: data/kb/README.md)",
        )
    return files


def parse_article(path: Path, languages: Sequence[str]) -> Article:
    """Parse and validate one article file.

    Args:
        path: The ``<id>.md`` file.
        languages: Language codes the article must have, and the only ones allowed.

    Raises:
        ConfigError: The file breaks a rule of the module docstring's format.
        ValueError: ``languages`` is empty or holds an invalid code.
    """
    langs = _check_languages(languages)
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            str(path),
            "",
            f"not valid UTF-8 ({exc.reason} at byte {exc.start})",
            "save the file as UTF-8",
        ) from None
    except OSError as exc:
        raise ConfigError(
            str(path), "", f"cannot be read ({exc.strerror})", "check the file"
        ) from None
    lines = unicodedata.normalize("NFC", raw).replace("\r\n", "\n").split("\n")

    meta, body_start = _front_matter(path, lines)

    def at(key: str) -> str:
        return _at(path, _key_line(lines, body_start - 1, key))

    article_id = _id(path, meta, at)
    title = _title(meta, langs, at)
    tags = _string_list(meta, "tags", None, at)
    intents = _string_list(meta, "intents", _INTENT, at)
    questions = _questions(path, lines, body_start - 1, meta)
    body = _body(path, lines, body_start, langs)
    return Article(
        id=article_id,
        title=title,
        body=body,
        tags=tags,
        intents=intents,
        questions=questions,
        source=path,
    )


def content_hash(articles: Iterable[Article]) -> str:
    """A sha256 hex digest of the parsed content, used to detect a stale index.

    It covers id, title, body, tags, intents and questions of every article (not ``source``), in a
    canonical order, so it does not depend on file-system order, on the order of the
    given articles or on where the folder lives; it changes when any of those change.
    """
    entries = sorted(
        _canonical_json(
            {
                "id": a.id,
                "title": a.title,
                "body": a.body,
                "tags": list(a.tags),
                "intents": list(a.intents),
                "questions": {k: list(v) for k, v in a.questions.items()},
            }
        )
        for a in articles
    )
    blob = _canonical_json({"schema": HASH_SCHEMA, "articles": entries})
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _canonical_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


# --- helpers -------------------------------------------------------------------------


def _check_languages(languages: Sequence[str]) -> tuple[str, ...]:
    if isinstance(languages, str):
        raise ValueError(f"languages must be a sequence of codes, got {languages!r}")
    langs = tuple(languages)
    if not langs:
        raise ValueError("languages must name at least one language code")
    for code in langs:
        if not isinstance(code, str) or not _LANG_CODE.fullmatch(code):
            raise ValueError(f"invalid language code {code!r} (lowercase, e.g. 'en')")
    return langs


def _at(path: Path, line: int | None) -> str:
    """``file:line`` for error messages (1-based line), or just the file."""
    return f"{path}:{line}" if line else str(path)


def _front_matter(path: Path, lines: list[str]) -> tuple[dict[str, Any], int]:
    """The front-matter mapping and the 0-based index of the first body line."""
    layout = (
        "start the file with a line '---', then the YAML keys (id, title, tags, "
        "intents), then a line '---' (see data/kb/README.md)"
    )
    if not lines or lines[0].rstrip() != _FENCE:
        raise ConfigError(_at(path, 1), "front matter", "missing front matter", layout)
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].rstrip() == _FENCE)
    except StopIteration:
        raise ConfigError(
            _at(path, 1),
            "front matter",
            "front matter is not closed",
            "add a line '---' after the last front-matter key",
        ) from None
    try:
        meta = yaml.load("\n".join(lines[1:end]), Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 1  # +1 for '---', +1 for 1-based
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(
            _at(path, line),
            "front matter",
            f"invalid YAML: {problem}",
            "fix the YAML syntax (quote titles that contain ':' or start with a "
            "special character)",
        ) from None
    if meta is None:
        raise ConfigError(_at(path, 2), "front matter", "front matter is empty", layout)
    if not isinstance(meta, dict):
        raise ConfigError(
            _at(path, 2),
            "front matter",
            f"must be a YAML mapping of keys, got {type(meta).__name__}",
            layout,
        )
    for key in meta:
        if key not in ALLOWED_KEYS:
            close = difflib.get_close_matches(str(key), ALLOWED_KEYS, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise ConfigError(
                _at(path, _key_line(lines, end, str(key))),
                str(key),
                "unknown front-matter key",
                f"{hint}allowed keys: {', '.join(ALLOWED_KEYS)}",
            )
    return meta, end + 1


def _key_line(lines: list[str], end: int, key: str) -> int | None:
    """1-based line of a top-level front-matter key, if it can be found."""
    for i in range(1, end):
        if re.match(rf"{re.escape(key)}\s*:", lines[i]):
            return i + 1
    return None


def _id(path: Path, meta: Mapping[str, Any], at: Callable[[str], str]) -> str:
    stem = path.name[: -len(".md")]
    value = meta.get("id")
    if value is None:
        raise ConfigError(str(path), "id", "is missing", f"add 'id: {stem}'")
    if not isinstance(value, str) or not _SLUG.fullmatch(value):
        raise ConfigError(
            at("id"),
            "id",
            f"{value!r} is not a lowercase slug",
            "use lowercase letters, digits and single hyphens, e.g. 'shipping-times'",
        )
    if value != stem:
        raise ConfigError(
            at("id"),
            "id",
            f"{value!r} does not match the file name {path.name!r}",
            f"rename the file to '{value}.md' or set 'id: {stem}'",
        )
    return value


def _title(
    meta: Mapping[str, Any], langs: Sequence[str], at: Callable[[str], str]
) -> dict[str, str]:
    example = "title:\n  " + "\n  ".join(f"{code}: ..." for code in langs)
    value = meta.get("title")
    if value is None:
        raise ConfigError(at("title"), "title", "is missing", f"add\n{example}")
    if not isinstance(value, dict):
        raise ConfigError(
            at("title"),
            "title",
            f"must be a mapping of language to title, got {type(value).__name__}",
            f"write it as\n{example}",
        )
    for code in value:
        if code not in langs:
            raise ConfigError(
                at("title"),
                f"title.{code}",
                f"unknown language {code!r}",
                f"use one of {', '.join(langs)}, or add the language to "
                "languages.supported in supportbot.yml",
            )
    title = {}
    for code in langs:
        text = value.get(code)
        if text is None or (isinstance(text, str) and not text.strip()):
            raise ConfigError(
                at("title"),
                f"title.{code}",
                f"missing title for required language {code!r}",
                f"add '{code}: <title>' under 'title:'",
            )
        if not isinstance(text, str):
            raise ConfigError(
                at("title"),
                f"title.{code}",
                f"must be text, got {type(text).__name__}",
                "quote the title",
            )
        title[code] = " ".join(text.split())
    return title


def _string_list(
    meta: Mapping[str, Any],
    key: str,
    pattern: re.Pattern[str] | None,
    at: Callable[[str], str],
) -> tuple[str, ...]:
    value = meta.get(key)
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ConfigError(
            at(key),
            key,
            f"must be a list, got {type(value).__name__}",
            f"write it as '{key}: [a, b]' (or '{key}: []')",
        )
    items: list[str] = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise ConfigError(
                at(key), key, f"item {item!r} is not a non-empty text", "remove it"
            )
        item = item.strip()
        if pattern is not None and not pattern.fullmatch(item):
            raise ConfigError(
                at(key),
                key,
                f"{item!r} is not a valid name",
                "use the intent name exactly as in domain.yml, e.g. 'shipping_time'",
            )
        if item in items:
            raise ConfigError(at(key), key, f"{item!r} is listed twice", "remove one")
        items.append(item)
    return tuple(items)


def _questions(
    path: Path, lines: list[str], end: int, meta: Mapping[str, Any]
) -> dict[str, tuple[str, ...]]:
    """The ``questions:`` mapping; every error names the line of the offending entry."""
    value = meta.get("questions")
    if value is None:
        return {}
    start = _key_line(lines, end, "questions")
    example = "questions:\n  en: [\"how much is postage\", \"do i pay for delivery\"]"
    if not isinstance(value, dict):
        raise ConfigError(
            _at(path, start),
            "questions",
            f"must be a mapping of language to a list of questions, got "
            f"{type(value).__name__}",
            f"write it as\n{example}",
        )

    def line_of(needle: str) -> int | None:
        """First front-matter line after ``questions:`` that mentions ``needle``."""
        for i in range((start or 1), end):
            if needle and needle in lines[i]:
                return i + 1
        return start

    out: dict[str, tuple[str, ...]] = {}
    for code, items in value.items():
        if not isinstance(code, str) or not _LANG_CODE.fullmatch(code):
            raise ConfigError(
                _at(path, line_of(f"{code}:")),
                "questions",
                f"{code!r} is not a language code",
                "use a lowercase code such as 'en', 'sl' or 'de'",
            )
        where = _at(path, line_of(f"{code}:"))
        if not isinstance(items, list):
            raise ConfigError(
                where,
                f"questions.{code}",
                f"must be a list of questions, got {type(items).__name__}",
                f"write it as '{code}: [\"first question\", \"second question\"]'",
            )
        seen: list[str] = []
        for item in items:
            text = " ".join(item.split()) if isinstance(item, str) else ""
            if not text:
                raise ConfigError(
                    where,
                    f"questions.{code}",
                    f"item {item!r} is not a non-empty one-line text",
                    "write each question as quoted text, or remove the empty item",
                )
            if text in seen:
                raise ConfigError(
                    _at(path, line_of(item.strip())),
                    f"questions.{code}",
                    f"{text!r} is listed twice",
                    "remove one",
                )
            seen.append(text)
        if seen:
            out[code] = tuple(seen)
    return out


def _body(
    path: Path, lines: list[str], start: int, langs: Sequence[str]
) -> dict[str, str]:
    sections: dict[str, tuple[int, list[str]]] = {}
    current: list[str] | None = None
    for index in range(start, len(lines)):
        line = lines[index]
        lineno = index + 1
        stripped = line.strip()
        marker = _MARKER.fullmatch(stripped)
        if marker is None and _MARKER_LIKE.match(stripped):
            raise ConfigError(
                _at(path, lineno),
                "language marker",
                f"malformed language marker {stripped!r}",
                "write it exactly as '<!-- lang: xx -->' on its own line",
            )
        if marker is not None:
            code = marker.group("code")
            if code not in langs:
                raise ConfigError(
                    _at(path, lineno),
                    "language marker",
                    f"unknown language {code!r} in {stripped!r}",
                    f"use one of {', '.join(langs)} (lowercase), or add the language "
                    "to languages.supported in supportbot.yml",
                )
            if code in sections:
                raise ConfigError(
                    _at(path, lineno),
                    f"body.{code}",
                    f"second '{code}' section (the first starts at line "
                    f"{sections[code][0]})",
                    "keep one section per language",
                )
            current = []
            sections[code] = (lineno, current)
            continue
        if current is None:
            if stripped:
                raise ConfigError(
                    _at(path, lineno),
                    "body",
                    "text before the first language marker",
                    f"start the body with '<!-- lang: {langs[0]} -->'",
                )
            continue
        current.append(line.rstrip())

    body = {}
    for code in langs:
        if code not in sections:
            raise ConfigError(
                str(path),
                f"body.{code}",
                f"missing body for required language {code!r}",
                f"add a section starting with '<!-- lang: {code} -->'",
            )
        lineno, text_lines = sections[code]
        text = "\n".join(text_lines).strip("\n")
        if not text.strip():
            raise ConfigError(
                _at(path, lineno),
                f"body.{code}",
                "empty body",
                f"write the article text below '<!-- lang: {code} -->'",
            )
        body[code] = text
    return body

"""``bot review``: customer messages the bot misunderstood, and labelling them into data/nlu.

Reads Rasa's own SQL tracker store (table ``events``: one row per event, ``type_name``
``user`` for customer messages, the parse result in the JSON ``data`` column), the
SQLite file of the embedded set-up (endpoints.yml ``db: ${TRACKER_DB}``, by default
var/tracker.sqlite3) or a ``postgresql://`` URL of the scale-out one. A message is listed
when NLU fell back (``nlu_fallback``), its best intent scored below
``review.low_confidence``, or it was confidently out of scope (``UNHANDLED_INTENTS``: the
bot could only say it cannot help, so the message may be a topic editors have not covered).
Messages are grouped by their normalised text, so "Where is my parcel??" and "where is my
parcel" are one line with a count.

``review label`` appends an example to ``data/nlu/<language>/<topic>.yml`` in Rasa's
format: one ``- text`` line at the end of the intent's examples block (the rest of the
file, comments included, is kept byte for byte), then re-reads the file to check the
example landed under the intent, restoring the old file otherwise.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bot.editor.nludata import (
    ENTITY_MARKUP,
    FALLBACK_INTENT,
    IntentBlock,
    append_example,
    append_intent,
    load_domain,
    load_nlu,
    normalise,
    write_atomic,
)
from bot.editor.problems import display_path
from bot.editor.validate import Project
from bot.errors import SupportBotError
from bot.settings import PROJECT_ROOT, Settings

Say = Callable[[str], None]
DEFAULT_TRACKER = PROJECT_ROOT / "var" / "tracker.sqlite3"


@dataclass(frozen=True)
class Message:
    """One customer message as Rasa's tracker store recorded it."""

    sender_id: str
    timestamp: float
    text: str
    intent: str | None  # best real intent (not nlu_fallback)
    confidence: float
    fallback: bool
    language: str | None


@dataclass
class Group:
    key: str
    texts: dict[str, int] = field(default_factory=dict)
    count: int = 0
    languages: dict[str, int] = field(default_factory=dict)
    intents: dict[str, int] = field(default_factory=dict)
    fallbacks: int = 0
    confidences: list[float] = field(default_factory=list)
    last_seen: float = 0.0
    conversations: set[str] = field(default_factory=set)

    @property
    def text(self) -> str:
        """The most frequent spelling."""
        return max(self.texts.items(), key=lambda kv: kv[1])[0]  # ties: first seen

    @property
    def language(self) -> str | None:
        return (
            max(self.languages.items(), key=lambda kv: kv[1])[0]
            if self.languages
            else None
        )

    @property
    def intent(self) -> str | None:
        return (
            max(self.intents.items(), key=lambda kv: kv[1])[0] if self.intents else None
        )

    @property
    def mean_confidence(self) -> float:
        return (
            sum(self.confidences) / len(self.confidences) if self.confidences else 0.0
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "count": self.count,
            "language": self.language,
            "intent": self.intent,
            "confidence": round(self.mean_confidence, 3),
            "fallbacks": self.fallbacks,
            "conversations": len(self.conversations),
            "last_seen": datetime.fromtimestamp(self.last_seen, timezone.utc).isoformat(
                timespec="seconds"
            ),
        }


# --- reading the tracker store ---------------------------------------------------------


def tracker_location(explicit: str | None) -> str:
    """--tracker, else $TRACKER_DB (what endpoints.yml reads), else var/tracker.sqlite3."""
    return explicit or os.environ.get("TRACKER_DB") or str(DEFAULT_TRACKER)


def read_events(
    location: str, since: float | None = None
) -> Iterator[tuple[str, float, str, str]]:
    """(sender_id, timestamp, type_name, data JSON) of user and slot events, in order."""
    query = (
        "SELECT sender_id, timestamp, type_name, data FROM events "
        "WHERE type_name IN ('user', 'slot')"
        + (" AND timestamp >= ?" if since is not None else "")
        + " ORDER BY id"
    )
    params: tuple[Any, ...] = (since,) if since is not None else ()
    if location.startswith(("postgresql://", "postgres://")):
        import psycopg

        try:
            conn = psycopg.connect(location, connect_timeout=10)
        except psycopg.Error as exc:
            raise SupportBotError(
                f"tracker store {_safe_url(location)}: cannot connect "
                f"({str(exc).strip().splitlines()[0]})"
            ) from None
        with conn:
            try:
                rows = conn.execute(query.replace("?", "%s"), params).fetchall()
            except psycopg.errors.UndefinedTable:
                raise SupportBotError(
                    f"tracker store {_safe_url(location)}: no 'events' "
                    "table (has the bot run with it yet?)"
                ) from None
        yield from rows
        return
    path = Path(location)
    if not path.exists():
        raise SupportBotError(
            f"{display_path(path)}: no tracker database (has the bot run yet? set "
            "--tracker or TRACKER_DB to the file endpoints.yml uses)"
        )
    conn_sqlite = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        try:
            rows = conn_sqlite.execute(query, params).fetchall()
        except sqlite3.OperationalError as exc:
            raise SupportBotError(
                f"{display_path(path)}: not a Rasa tracker store ({exc})"
            ) from None
    finally:
        conn_sqlite.close()
    yield from rows


def _safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':')[0]}:***@{host}"
    return url


def parse_message(sender_id: str, timestamp: float, data: str) -> Message | None:
    """A customer message from one event's JSON; None for button payloads and junk."""
    try:
        event = json.loads(data)
    except (TypeError, ValueError):
        return None
    text = (event.get("text") or "").strip()
    if not text or text.startswith(
        "/"
    ):  # "/affirm": a button, not the customer's words
        return None
    parse = event.get("parse_data") or {}
    top = parse.get("intent") or {}
    fallback = top.get("name") == FALLBACK_INTENT
    ranking = [
        r for r in parse.get("intent_ranking") or [] if r.get("name") != FALLBACK_INTENT
    ]
    best = ranking[0] if ranking else (top if not fallback else {})
    language = parse.get("language")
    if isinstance(language, Mapping):
        language = language.get("code") or language.get("language")
    return Message(
        sender_id=sender_id,
        timestamp=float(timestamp or 0.0),
        text=text,
        intent=best.get("name"),
        confidence=float(best.get("confidence") or 0.0),
        fallback=fallback,
        language=language if isinstance(language, str) else None,
    )


#: Intents that mean "the bot could not help": confident or not, editors should see them.
UNHANDLED_INTENTS = frozenset({"out_of_scope"})


def misunderstood(
    messages: Iterable[Message],
    low_confidence: float,
    unhandled: frozenset[str] = UNHANDLED_INTENTS,
) -> list[Group]:
    """Fallbacks, low-confidence and out-of-scope messages grouped by normalised text.

    Most frequent first.
    """
    groups: dict[str, Group] = {}
    for m in messages:
        if not (m.fallback or m.confidence < low_confidence or m.intent in unhandled):
            continue
        key = normalise(m.text)
        if not key:
            continue
        g = groups.setdefault(key, Group(key))
        g.count += 1
        g.texts[m.text] = g.texts.get(m.text, 0) + 1
        if m.language:
            g.languages[m.language] = g.languages.get(m.language, 0) + 1
        if m.intent:
            g.intents[m.intent] = g.intents.get(m.intent, 0) + 1
        g.fallbacks += int(m.fallback)
        g.confidences.append(m.confidence)
        g.last_seen = max(g.last_seen, m.timestamp)
        g.conversations.add(m.sender_id)
    return sorted(groups.values(), key=lambda g: (-g.count, -g.last_seen, g.key))


def messages_from_events(
    rows: Iterable[tuple[str, float, str, str]],
) -> Iterator[Message]:
    """Customer messages, in order.

    A message whose own language is unknown ("ok") gets the language the conversation
    was in (the ``language`` slot), as the bot answered it.
    """
    conversation_language: dict[str, str] = {}
    for sender_id, timestamp, type_name, data in rows:
        if type_name == "slot":
            try:
                event = json.loads(data)
            except (TypeError, ValueError):
                continue
            if event.get("name") == "language" and isinstance(event.get("value"), str):
                conversation_language[sender_id] = event["value"]
            continue
        message = parse_message(sender_id, timestamp, data)
        if message is None:
            continue
        if message.language is None and sender_id in conversation_language:
            message = replace(message, language=conversation_language[sender_id])
        yield message


def load_review(
    location: str,
    low_confidence: float,
    *,
    language: str | None = None,
    since: float | None = None,
) -> list[Group]:
    messages = messages_from_events(read_events(location, since))
    groups = misunderstood(messages, low_confidence)
    if language:
        groups = [g for g in groups if g.language == language]
    return groups


def low_confidence_setting(settings: Settings) -> float:
    section = settings.section("review", required=False)
    for key in section.data:
        if key != "low_confidence":
            raise section.error(str(key), "unknown key", "use low_confidence")
    value = section.get("low_confidence", 0.6)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 < value <= 1
    ):
        raise section.error(
            "low_confidence",
            f"must be a number in (0, 1], got {value!r}",
            "0.6 lists messages the bot was unsure about",
        )
    return float(value)


def format_groups(groups: Sequence[Group]) -> str:
    if not groups:
        return "No misunderstood messages: nothing fell back or scored low.\n"
    head = ("#", "count", "lang", "best guess", "conf", "fallback", "text")
    rows = [
        (
            str(i),
            str(g.count),
            g.language or "?",
            g.intent or "-",
            f"{g.mean_confidence:.2f}",
            f"{g.fallbacks}/{g.count}",
            g.text,
        )
        for i, g in enumerate(groups, 1)
    ]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head) - 1)]

    def line(r: Sequence[str]) -> str:
        return (
            "  ".join(f"{v:<{w}}" for v, w in zip(r, widths, strict=False))
            + "  "
            + r[-1]
        )

    return "\n".join([line(head), *map(line, rows)]) + "\n"


# --- labelling -------------------------------------------------------------------------


@dataclass(frozen=True)
class Labelled:
    file: Path
    line: int
    created_block: bool


def label(
    project: Project, text: str, intent: str, language: str, file: Path | None = None
) -> Labelled:
    """Append ``text`` as an example of ``intent`` in ``language``; refuse what is wrong."""
    text = " ".join(text.split())
    if not text:
        raise SupportBotError("the example text is empty")
    if ENTITY_MARKUP.search(text):
        raise SupportBotError(
            f"{text!r} contains '[...](...)', which Rasa reads as an entity annotation; "
            "rewrite the example without square brackets"
        )
    if language not in project.languages:
        raise SupportBotError(
            f"language {language!r} is not supported ({', '.join(project.languages)}); "
            "pass --language with one of them"
        )
    domain = load_domain(project.domain)
    if intent not in domain.intents:
        raise SupportBotError(
            f"unknown intent {intent!r}: it is not in {display_path(project.domain)} "
            f"(intents: {', '.join(sorted(domain.intents))})"
        )
    if intent == FALLBACK_INTENT or intent in project.button_only_intents:
        raise SupportBotError(
            f"intent {intent!r} is not typed by customers; pick another"
        )
    nlu = load_nlu(project.nlu_dir)
    key = normalise(text)
    for ex in nlu.examples:
        if ex.key == key:
            where = f"{display_path(ex.file)}:{ex.line}"
            if ex.intent == intent:
                raise SupportBotError(
                    f"{text!r} is already an example of '{intent}' at {where}"
                )
            raise SupportBotError(
                f"{text!r} is already an example of '{ex.intent}' at {where}; one example "
                f"cannot mean two intents (delete that line first if '{intent}' is right)"
            )
    blocks = [b for b in nlu.blocks if b.intent == intent and b.language == language]
    if file is not None:
        blocks = [b for b in blocks if b.file.resolve() == file.resolve()]
    if blocks:
        target = blocks[-1]
        before = target.file.read_text(encoding="utf-8")
        append_example(target, text)
        return _verify(project, target.file, before, text, intent, language, False)
    path = file or _sibling_file(nlu.blocks, intent, language, project)
    before = path.read_text(encoding="utf-8") if path.exists() else ""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text('version: "3.1"\nnlu:\n', encoding="utf-8")
    append_intent(path, intent, text)
    return _verify(project, path, before, text, intent, language, True)


def _sibling_file(
    blocks: Sequence[IntentBlock], intent: str, language: str, project: Project
) -> Path:
    """Where another language keeps this intent: data/nlu/<language>/<same topic>.yml."""
    for block in blocks:
        if block.intent == intent:
            return (
                project.nlu_dir
                / language
                / block.file.relative_to(project.nlu_dir / block.language)
            )
    raise SupportBotError(
        f"intent '{intent}' has no examples in any language yet; pass --file "
        f"data/nlu/{language}/<topic>.yml to say where it belongs"
    )


def _verify(
    project: Project,
    path: Path,
    before: str,
    text: str,
    intent: str,
    language: str,
    created: bool,
) -> Labelled:
    nlu = load_nlu(project.nlu_dir)
    problems = [p for p in nlu.problems if p.where.startswith(display_path(path))]
    found = [
        e
        for e in nlu.examples
        if e.file.resolve() == path.resolve()
        and e.text == text
        and e.intent == intent
        and e.language == language
    ]
    if problems or not found:
        if before:
            write_atomic(path, before)
        else:
            path.unlink(missing_ok=True)
        reason = (
            problems[0].render()
            if problems
            else "the example was not found after writing"
        )
        raise SupportBotError(f"{display_path(path)}: not changed ({reason})")
    return Labelled(path, found[-1].line, created)


# --- attaching a question to a knowledge-base article -----------------------------------


@dataclass(frozen=True)
class Attached:
    """Where an attached question landed."""

    file: Path
    article: str
    language: str
    questions: int  # the article's questions in that language, the new one included


def attach_question(kb_folder: Path, languages: Sequence[str], article_id: str,
                    language: str, text: str) -> Attached:
    """Add ``text`` to ``questions: <language>`` of an article's front matter.

    A customer's question that found the wrong article becomes a phrasing of the right
    one: after ``python -m kb_index build`` (or ``bot train``) it is a question row of the
    index and trains the decision model. Only the ``questions:`` block of the front
    matter is rewritten (as one flow list per language); every other line is kept byte
    for byte. The file is re-read with the article loader afterwards and restored if it
    no longer loads.
    """
    import json as _json
    import re

    from kb_index.articles import load_articles, parse_article

    text = " ".join(text.split())
    if not text:
        raise SupportBotError("the question text is empty")
    if not re.fullmatch(r"[a-z]{2,3}(?:-[a-z0-9]+)*", language or ""):
        raise SupportBotError(f"{language!r} is not a language code; pass --language sl")
    articles = {a.id: a for a in load_articles(kb_folder, languages)}
    article = articles.get(article_id)
    if article is None:
        close = sorted(a for a in articles if article_id.split("-")[0] in a)[:5]
        raise SupportBotError(
            f"no article {article_id!r} in {display_path(kb_folder)}"
            + (f" (did you mean: {', '.join(close)}?)" if close else "")
        )
    key = normalise(text)
    for other in articles.values():
        for q in other.questions.get(language, ()):
            if normalise(q) == key:
                raise SupportBotError(
                    f"{text!r} is already a question of {other.id!r} "
                    f"({display_path(other.source)})"
                )
    questions = {k: list(v) for k, v in article.questions.items()}
    questions.setdefault(language, []).append(text)
    path = article.source
    before = path.read_text(encoding="utf-8-sig")
    lines = before.split("\n")
    end = next(i for i in range(1, len(lines)) if lines[i].rstrip() == "---")
    start = next((i for i in range(1, end) if re.match(r"questions\s*:", lines[i])), None)
    if start is None:
        start = stop = end
    else:
        stop = start + 1
        while stop < end and (lines[stop].startswith((" ", "\t")) or not lines[stop].strip()):
            stop += 1
    block = ["questions:"] + [
        f"  {lang}: {_json.dumps(items, ensure_ascii=False)}"
        for lang, items in sorted(questions.items())
    ]
    write_atomic(path, "\n".join(lines[:start] + block + lines[stop:]))
    try:
        parsed = parse_article(path, languages)
        if text not in parsed.questions.get(language, ()):
            raise SupportBotError("the question was not found after writing")
    except Exception as exc:
        write_atomic(path, before)
        raise SupportBotError(f"{display_path(path)}: not changed ({exc})") from None
    return Attached(path, article_id, language, len(parsed.questions[language]))

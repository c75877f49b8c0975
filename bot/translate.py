"""The one translator service: installed argos packages, routing, cache, batch, timing.

Machine translation is offline and optional. Operators install argos packages
(``.argosmodel`` zip files) with ``python -m bot models install FILE``; nothing is ever
downloaded. A package is a folder with ``metadata.json`` (``from_code``, ``to_code``,
``package_version`` …), ``model/`` (a CTranslate2 model) and ``sentencepiece.model``.

Both processes use this module. The Rasa server (Python 3.10, no torch) cannot import
``argostranslate`` (it imports stanza, which imports torch), so the default engine,
:class:`CTranslate2Engine`, runs a package the way argostranslate 1.11 does internally
(``argostranslate.translate.apply_packaged_translation``): SentencePiece pieces in,
``translate_batch`` with beam 4 and length penalty 0.2, pieces out. The action server
may use :class:`ArgosEngine`, which calls argostranslate itself;
``tests/bot/test_translate.py`` checks that both give the same output and
``bench/translation.py`` measures both.

What this module adds around the engines:

* Sentence splitting of its own (:func:`split_sentences`): argostranslate's default
  splitter (MiniSBD) downloads a model on first use and fails offline.
* Protection of what must not be translated (:func:`protect`): ``{placeholders}`` of
  response templates, URLs and e-mail addresses become ``{0}``, ``{1}`` … before
  translation and are put back afterwards.
* Routing (:meth:`Translator.route`): a direct package, else through the pivot
  (xx → en → yy), never longer.
* An LRU cache of whole texts per (source, target), batch translation that sends every
  uncached sentence of a batch to the engine at once, and the time of every call.
* A cheap check of the package folder on every call (one ``stat``): packages installed
  or removed while the bot runs are picked up without a restart.

Only the standard library is imported at module level; CTranslate2 and SentencePiece are
imported when a package is loaded, argostranslate only by :class:`ArgosEngine`.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from bot.errors import ConfigError, SupportBotError
from bot.settings import Section, Settings

logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------- text

#: Spans never sent to the model: response placeholders, URLs, e-mail addresses.
_PROTECTED_RE = re.compile(
    r"\{[A-Za-z_][A-Za-z0-9_]*\}"  # {ticket_ref}
    r"|(?:https?://|www\.)[^\s<>()\"']+"  # URLs
    r"|[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"  # e-mail addresses
)
#: Characters that end a sentence but not a URL when they stand right after one.
_TRAILING_PUNCTUATION = ".,;:!?…)]"
_MASK_RE = re.compile(r"\{(\d+)\}")

#: A sentence ends at one of these (Arabic ؟, ideographic 。), then closing quotes or
#: brackets, then white space.
_SENTENCE_END_RE = re.compile(r"([.!?…؟。]+[\"'”’»)\]]*)(\s+)")
#: Words that end with a dot without ending the sentence ("z. B.", "e.g.", "Nr.").
ABBREVIATIONS = frozenset(
    {
        "e.g",
        "i.e",
        "etc",
        "vs",
        "approx",
        "dr",
        "mr",
        "mrs",
        "ms",
        "prof",
        "st",
        "no",
        "nr",
        "z.b",
        "u.a",
        "bzw",
        "usw",
        "ca",
        "evtl",
        "ggf",
        "inkl",
        "str",
        "tel",
        "d.h",
        "s.o",
        "npr",
        "itd",
        "tj",
        "oz",
        "št",
    }
)


def protect(text: str) -> tuple[str, tuple[str, ...]]:
    """Replace placeholders, URLs and e-mail addresses by ``{0}``, ``{1}`` and so on.

    Returns the masked text and the protected spans in order. A URL at the end of a
    sentence keeps the sentence's full stop outside the mask.
    """
    spans: list[str] = []

    def _mask(match: re.Match[str]) -> str:
        span = match.group(0)
        tail = ""
        while span and span[-1] in _TRAILING_PUNCTUATION and not span.startswith("{"):
            tail = span[-1] + tail
            span = span[:-1]
        spans.append(span)
        return f"{{{len(spans) - 1}}}{tail}"

    return _PROTECTED_RE.sub(_mask, text), tuple(spans)


def restore(text: str, spans: Sequence[str]) -> tuple[str, tuple[str, ...]]:
    """Put protected spans back; returns the text and the spans the model lost."""
    seen: set[int] = set()

    def _unmask(match: re.Match[str]) -> str:
        index = int(match.group(1))
        if index < len(spans):
            seen.add(index)
            return spans[index]
        return match.group(0)

    restored = _MASK_RE.sub(_unmask, text)
    lost = tuple(span for i, span in enumerate(spans) if i not in seen)
    return restored, lost


def _ends_with_abbreviation(chunk: str) -> bool:
    words = chunk.rstrip(".").split()
    if not words:
        return False
    last = words[-1].lower().strip("(\"'")
    if last in ABBREVIATIONS:
        return True
    # An initial ("J. Smith") or an ordinal/number ("am 3. Mai"): no boundary.
    return (len(last) == 1 and last.isalpha()) or last.isdigit()


def split_sentences(paragraph: str) -> list[str]:
    """Split one line of text into sentences; pure, offline, no model.

    A boundary is end punctuation followed by white space and then an upper-case
    letter, a digit, an opening quote or a letter of a caseless script (Arabic). Known
    abbreviations, initials and numbers before a dot are not boundaries. The pieces
    are stripped; joining them with single spaces gives the paragraph back up to white
    space.
    """
    text = paragraph.strip()
    if not text:
        return []
    sentences: list[str] = []
    start = 0
    for match in _SENTENCE_END_RE.finditer(text):
        end = match.end(1)
        nxt = text[match.end() : match.end() + 1]
        if not nxt:
            continue
        starts_sentence = (
            nxt.isupper()
            or nxt.isdigit()
            or nxt in "\"'“‘«(¿¡"
            or (nxt.isalpha() and not nxt.islower() and not nxt.isupper())
        )
        if not starts_sentence:
            continue
        chunk = text[start:end]
        if match.group(1).startswith(".") and _ends_with_abbreviation(chunk):
            continue
        sentences.append(chunk.strip())
        start = match.end()
    tail = text[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


def segments(text: str) -> list[list[str]]:
    """Paragraphs (lines) of sentences; an empty line is an empty list."""
    return [split_sentences(line) for line in text.split("\n")]


# ----------------------------------------------------------------------- packages

#: Files and folders every package must have (argostranslate's layout).
METADATA_FILE = "metadata.json"
MODEL_DIR = "model"
SPM_FILE = "sentencepiece.model"
#: Folder names inside the packages folder that are not packages (work in progress).
_WORK_PREFIX = ".tmp-"
_TRASH_PREFIX = ".trash-"
_CODE_RE = re.compile(r"^[a-z]{2,3}$")


class PackageError(SupportBotError):
    """A translation package file or folder is unusable; the message says why."""


@dataclass(frozen=True)
class PackageInfo:
    """One installed (or about to be installed) translation package."""

    from_code: str
    to_code: str
    path: Path
    version: str = ""
    from_name: str = ""
    to_name: str = ""
    #: Bundled sentence splitter (``minisbd``, ``stanza`` or ``spacy``), if any; unused
    #: here (we split ourselves) but listed for the operator.
    splitter: str | None = None
    size_bytes: int = 0

    @property
    def pair(self) -> tuple[str, str]:
        return (self.from_code, self.to_code)

    def to_dict(self) -> dict[str, Any]:
        return {
            "from": self.from_code,
            "to": self.to_code,
            "version": self.version,
            "from_name": self.from_name,
            "to_name": self.to_name,
            "splitter": self.splitter,
            "size_bytes": self.size_bytes,
            "path": str(self.path),
        }


def _folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def read_package(path: Path, *, source: str | None = None) -> PackageInfo:
    """Check a package folder's layout and metadata; PackageError names the problem.

    ``source`` names the file the folder came from, for messages during install.
    """
    where = source or str(path)
    meta_file = path / METADATA_FILE
    if not meta_file.is_file():
        raise PackageError(f"{where}: no {METADATA_FILE} (is this an argos package?)")
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PackageError(
            f"{where}: {METADATA_FILE} is not valid JSON ({exc})"
        ) from None
    if not isinstance(meta, Mapping):
        raise PackageError(f"{where}: {METADATA_FILE} must hold a JSON object")
    kind = meta.get("type", "translate")
    if kind != "translate":
        raise PackageError(f"{where}: a '{kind}' package, not a translation package")
    codes = {}
    for key in ("from_code", "to_code"):
        value = meta.get(key)
        if not isinstance(value, str) or not _CODE_RE.match(value):
            raise PackageError(
                f"{where}: {METADATA_FILE} {key} must be a language code such as 'de', "
                f"got {value!r}"
            )
        codes[key] = value
    if codes["from_code"] == codes["to_code"]:
        raise PackageError(
            f"{where}: from_code and to_code are both {codes['to_code']!r}"
        )
    model = path / MODEL_DIR
    if not (model / "model.bin").is_file() or not (model / "config.json").is_file():
        raise PackageError(
            f"{where}: {MODEL_DIR}/ must be a CTranslate2 model "
            "(model.bin, config.json)"
        )
    if not (path / SPM_FILE).is_file():
        hint = (
            " (BPE packages are not supported)" if (path / "bpe.model").exists() else ""
        )
        raise PackageError(f"{where}: no {SPM_FILE}{hint}")
    splitter = next(
        (name for name in ("minisbd", "stanza", "spacy") if (path / name).is_dir()),
        None,
    )
    return PackageInfo(
        from_code=codes["from_code"],
        to_code=codes["to_code"],
        path=path,
        version=str(meta.get("package_version", "")),
        from_name=str(meta.get("from_name", "")),
        to_name=str(meta.get("to_name", "")),
        splitter=splitter,
        size_bytes=_folder_size(path),
    )


def load_check(info: PackageInfo, *, source: str | None = None) -> None:
    """Load the package's tokenizer and model once: catches damaged model files."""
    try:
        CTranslate2Engine(info, threads=1).translate_paragraphs(["ok"])
    except Exception as exc:
        raise PackageError(
            f"{source or info.path}: the model does not load "
            f"({type(exc).__name__}: {exc})"
        ) from None


def installed_packages(packages_dir: Path) -> list[PackageInfo]:
    """Installed packages, sorted by pair; broken folders are logged and skipped."""
    found: list[PackageInfo] = []
    if not packages_dir.is_dir():
        return found
    for child in sorted(packages_dir.iterdir()):
        if not child.is_dir() or child.name.startswith("."):
            continue
        try:
            found.append(read_package(child))
        except PackageError as exc:
            logger.warning("skipping translation package folder: %s", exc)
    return sorted(found, key=lambda p: (p.pair, p.path.name))


def package_dir_name(from_code: str, to_code: str) -> str:
    """Folder name of an installed package (argospm's naming): ``translate-de_en``."""
    return f"translate-{from_code}_{to_code}"


def _safe_members(archive: zipfile.ZipFile, source: str) -> str:
    """The one top folder of a package zip; rejects absolute paths and ``..``."""
    tops: set[str] = set()
    for name in archive.namelist():
        pure = PurePosixPath(name)
        if pure.is_absolute() or ".." in pure.parts or "\\" in name:
            raise PackageError(f"{source}: unsafe path in the archive: {name!r}")
        if pure.parts:
            tops.add(pure.parts[0])
    folders = {
        t for t in tops if any(n.startswith(t + "/") for n in archive.namelist())
    }
    if len(tops) != 1 or len(folders) != 1:
        raise PackageError(
            f"{source}: an .argosmodel holds exactly one folder, found "
            f"{sorted(tops) or 'nothing'}"
        )
    return folders.pop()


def install_package(
    file: Path, packages_dir: Path
) -> tuple[PackageInfo, PackageInfo | None]:
    """Validate and install one ``.argosmodel`` file; returns (installed, replaced).

    Everything happens in a work folder inside ``packages_dir``; only a package that
    passed every check (zip integrity, layout, metadata, the model loads and translates)
    is moved into place with an atomic rename. A broken file changes nothing. An
    installed package for the same pair is replaced.
    """
    source = str(file)
    if not file.is_file():
        raise PackageError(f"{source}: no such file")
    if not zipfile.is_zipfile(file):
        raise PackageError(
            f"{source}: not a zip archive (an .argosmodel file is a zip; truncated "
            "download or wrong file?)"
        )
    packages_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=_WORK_PREFIX, dir=packages_dir))
    try:
        try:
            with zipfile.ZipFile(file) as archive:
                top = _safe_members(archive, source)
                bad = archive.testzip()
                if bad is not None:
                    raise PackageError(
                        f"{source}: damaged archive member {bad!r} (CRC)"
                    )
                archive.extractall(work)
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
            if isinstance(exc, PackageError):
                raise
            raise PackageError(
                f"{source}: damaged or truncated archive ({exc})"
            ) from None
        extracted = work / top
        info = read_package(extracted, source=source)
        load_check(info, source=source)
        target = packages_dir / package_dir_name(info.from_code, info.to_code)
        replaced: PackageInfo | None = None
        trash: Path | None = None
        if target.exists():
            try:
                replaced = read_package(target)
            except PackageError:
                replaced = None
            trash = packages_dir / f"{_TRASH_PREFIX}{uuid.uuid4().hex}"
            os.replace(target, trash)
        os.replace(extracted, target)
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)
        return read_package(target), replaced
    finally:
        shutil.rmtree(work, ignore_errors=True)


def remove_package(
    packages_dir: Path, from_code: str, to_code: str
) -> list[PackageInfo]:
    """Remove every installed package for one pair; returns what was removed."""
    removed = []
    for info in installed_packages(packages_dir):
        if info.pair == (from_code, to_code):
            trash = packages_dir / f"{_TRASH_PREFIX}{uuid.uuid4().hex}"
            os.replace(info.path, trash)  # atomic: readers see it or not, never half
            shutil.rmtree(trash, ignore_errors=True)
            removed.append(info)
    return removed


# ------------------------------------------------------------------------ engines


class Engine(Protocol):
    """Translates paragraphs (single lines, already protected) for one package."""

    info: PackageInfo

    def translate_paragraphs(self, paragraphs: Sequence[str]) -> list[str]: ...


#: argostranslate 1.11's decoding options (settings.py defaults, translate.py).
BEAM_SIZE = 4
LENGTH_PENALTY = 0.2
MAX_BATCH_TOKENS = 32


def _decode_pieces(processor: Any, pieces: list[str], target_prefix: str) -> str:
    """Argostranslate's SentencePieceTokenizer.decode plus its prefix/space handling."""
    value = processor.decode_pieces(pieces).replace("▁", " ").replace("_", " ")
    if target_prefix and value.startswith(target_prefix):
        value = value[len(target_prefix) :]
    if value.startswith(" "):
        value = value[1:]
    return value


def _load_ctranslate2(info: PackageInfo, threads: int) -> Any:
    """The package's CTranslate2 model on the CPU, ``threads`` cores per translation.

    Both engines load it here with the same settings: they must give the same output
    for the same package (see the module doc), whichever process runs them.
    """
    import ctranslate2

    return ctranslate2.Translator(
        str(info.path / MODEL_DIR),
        device="cpu",
        inter_threads=1,
        intra_threads=threads,
        compute_type="auto",
    )


class CTranslate2Engine:
    """A package run by CTranslate2 + SentencePiece directly (both processes)."""

    name = "ctranslate2"

    def __init__(self, info: PackageInfo, *, threads: int = 1) -> None:
        import sentencepiece

        self.info = info
        self.target_prefix = _target_prefix(info.path)
        self.spm = sentencepiece.SentencePieceProcessor(
            model_file=str(info.path / SPM_FILE)
        )
        self.model = _load_ctranslate2(info, threads)

    def translate_paragraphs(self, paragraphs: Sequence[str]) -> list[str]:
        sentences = [split_sentences(p) for p in paragraphs]
        flat = [self.spm.encode(s, out_type=str) for group in sentences for s in group]
        results = []
        if flat:
            prefix = [[self.target_prefix]] * len(flat) if self.target_prefix else None
            results = self.model.translate_batch(
                flat,
                target_prefix=prefix,
                replace_unknowns=True,
                max_batch_size=MAX_BATCH_TOKENS,
                batch_type="tokens",
                beam_size=BEAM_SIZE,
                num_hypotheses=1,
                length_penalty=LENGTH_PENALTY,
                return_scores=True,
            )
        out = []
        index = 0
        for group in sentences:
            pieces: list[str] = []
            for _ in group:
                pieces.extend(results[index].hypotheses[0])
                index += 1
            out.append(
                _decode_pieces(self.spm, pieces, self.target_prefix) if group else ""
            )
        return out


class _OwnSplitter:
    """argostranslate's sentencizer interface over :func:`split_sentences` (offline)."""

    def __init__(self, pkg: Any) -> None:
        self.pkg = pkg

    def split_sentences(self, text: str) -> list[str]:
        return split_sentences(text)


class ArgosEngine:
    """A package run by argostranslate itself (action server only: it imports torch).

    Uses argostranslate's package reader, tokenizer and
    ``translate.apply_packaged_translation`` with our offline sentence splitter in place
    of MiniSBD, which would download a model.
    """

    name = "argostranslate"

    def __init__(self, info: PackageInfo, *, threads: int = 1) -> None:
        from argostranslate import package as argos_package
        from argostranslate import translate as argos_translate

        self.info = info
        self._apply = argos_translate.apply_packaged_translation
        self.pkg = argos_package.Package(info.path)
        self.splitter = _OwnSplitter(self.pkg)
        self.model = _load_ctranslate2(info, threads)

    def translate_paragraphs(self, paragraphs: Sequence[str]) -> list[str]:
        out = []
        for paragraph in paragraphs:
            if not split_sentences(paragraph):
                out.append("")
                continue
            hypotheses = self._apply(self.pkg, paragraph, self.model, self.splitter, 1)
            out.append(hypotheses[0].value)
        return out


def _target_prefix(path: Path) -> str:
    try:
        meta = json.loads((path / METADATA_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    prefix = meta.get("target_prefix", "") if isinstance(meta, Mapping) else ""
    return prefix if isinstance(prefix, str) else ""


ENGINES: dict[str, Callable[..., Engine]] = {
    CTranslate2Engine.name: CTranslate2Engine,
    ArgosEngine.name: ArgosEngine,
}

# ----------------------------------------------------------------------- settings

#: Flows that can be switched off one by one (``translation.<flow>: false``).
INBOUND = "inbound"  # customer → pivot, so NLU understands the message
OUTBOUND = "outbound"  # pivot → customer, for responses and KB articles
AGENTS = "agents"  # customer → the queue's agent language, in tickets
FLOWS = (INBOUND, OUTBOUND, AGENTS)


@dataclass(frozen=True)
class TranslationSettings:
    """The ``translation:`` section of supportbot.yml, validated."""

    packages_dir: Path
    enabled: bool = True
    pivot: str = "en"
    engine: str = CTranslate2Engine.name
    flows: Mapping[str, bool] = field(
        default_factory=lambda: dict.fromkeys(FLOWS, True)
    )
    #: Short note sent after the first machine-translated message, per language.
    notice: Mapping[str, str] = field(default_factory=dict)
    cache_size: int = 1024
    threads: int = 1

    KEYS = (
        "enabled",
        "pivot",
        "packages_dir",
        "engine",
        *FLOWS,
        "notice",
        "cache_size",
        "threads",
    )
    DEFAULT_PACKAGES_DIR = "var/translation/packages"

    def allows(self, flow: str) -> bool:
        """Whether translation is on for one flow (inbound, outbound, agents)."""
        return self.enabled and bool(self.flows.get(flow, False))

    @classmethod
    def from_settings(cls, settings: Settings) -> TranslationSettings:
        """Read ``translation:`` (optional: defaults apply when it is missing)."""
        return cls.from_section(settings.section("translation", required=False))

    @classmethod
    def from_section(cls, section: Section) -> TranslationSettings:
        for key in section.data:
            if key not in cls.KEYS:
                raise section.error(
                    str(key), "unknown key", f"use one of: {', '.join(cls.KEYS)}"
                )
        flags = {}
        for key in ("enabled", *FLOWS):
            value = section.get(key, True)
            if not isinstance(value, bool):
                raise section.error(key, f"must be true or false, got {value!r}")
            flags[key] = value
        pivot = section.get("pivot", "en")
        if not isinstance(pivot, str) or not _CODE_RE.match(pivot):
            raise section.error(
                "pivot", f"must be a language code, got {pivot!r}", "en"
            )
        engine = section.get("engine", CTranslate2Engine.name)
        if engine not in ENGINES:
            raise section.error(
                "engine",
                f"unknown engine {engine!r}",
                f"use one of: {', '.join(ENGINES)}",
            )
        raw_notice = section.get("notice", {})
        if raw_notice is False or raw_notice is None:
            raw_notice = {}
        if not isinstance(raw_notice, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) and v.strip()
            for k, v in raw_notice.items()
        ):
            raise section.error(
                "notice",
                "must map language codes to a short text, or be false; "
                f"got {raw_notice!r}",
                'e.g. notice: {de: "(Automatisch übersetzt)"}',
            )
        numbers = {}
        for key, default, low in (("cache_size", 1024, 0), ("threads", 1, 1)):
            value = section.get(key, default)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise section.error(
                    key, f"must be a whole number >= {low}, got {value!r}"
                )
            numbers[key] = value
        return cls(
            packages_dir=section.path("packages_dir", cls.DEFAULT_PACKAGES_DIR),
            enabled=flags["enabled"],
            pivot=pivot,
            engine=engine,
            flows={flow: flags[flow] for flow in FLOWS},
            notice={k.lower(): v.strip() for k, v in raw_notice.items()},
            cache_size=numbers["cache_size"],
            threads=numbers["threads"],
        )


def check_engine_available(name: str) -> None:
    """ConfigError when the engine cannot run in this process (argos without torch)."""
    if name == ArgosEngine.name:
        try:
            import argostranslate  # noqa: F401
        except ImportError:
            raise ConfigError(
                "supportbot.yml",
                "translation.engine",
                "argostranslate is not installed in this environment",
                "use 'ctranslate2' (same output, runs in both processes)",
            ) from None


# ------------------------------------------------------------------------ service


@dataclass(frozen=True)
class Translation:
    """One translated text and how it was made."""

    text: str
    source: str
    target: str
    #: Languages visited, e.g. ("de", "en") or ("de", "en", "sl"); (src,) if identity.
    path: tuple[str, ...]
    #: Wall time of this call in milliseconds (near zero for a cache hit).
    ms: float
    cached: bool = False
    #: Protected spans (URLs, placeholders) the model dropped; they are not in ``text``.
    lost: tuple[str, ...] = ()
    engine: str = ""

    @property
    def complete(self) -> bool:
        return not self.lost

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, stored in messages and tracker events."""
        return {
            "text": self.text,
            "source": self.source,
            "target": self.target,
            "path": list(self.path),
            "ms": round(self.ms, 3),
            "cached": self.cached,
            "engine": self.engine,
        }


class TranslationUnavailable(SupportBotError):
    """No installed path between two languages (or the flow is switched off)."""


class Translator:
    """Installed packages, routing through the pivot, cache, batch and timing.

    Thread-safe: Rasa and the action server call it from executor threads. Engines are
    loaded on first use of their pair and kept; a change of the package folder (install
    or remove) drops them.
    """

    def __init__(
        self,
        settings: TranslationSettings,
        *,
        engine: str | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.settings = settings
        self.engine_name = engine or settings.engine
        if self.engine_name not in ENGINES:
            raise ValueError(f"unknown engine {self.engine_name!r}")
        self._clock = clock
        self._lock = threading.RLock()
        self._cache: OrderedDict[tuple[str, str, str], str] = OrderedDict()
        self._engines: dict[tuple[str, str], Engine] = {}
        self._packages: dict[tuple[str, str], PackageInfo] = {}
        self._stamp: tuple[float, int] | None = None
        self.hits = 0
        self.misses = 0

    # -- packages
    def _dir_stamp(self) -> tuple[float, int] | None:
        try:
            st = self.settings.packages_dir.stat()
        except OSError:
            return None
        return (st.st_mtime, st.st_ino)

    def refresh(self, *, force: bool = False) -> None:
        """Rescan the package folder if it changed since the last look."""
        stamp = self._dir_stamp()
        with self._lock:
            if not force and stamp == self._stamp and (self._packages or stamp is None):
                return
            packages = {
                p.pair: p for p in installed_packages(self.settings.packages_dir)
            }
            if packages != self._packages:
                logger.info(
                    "translation packages: %s",
                    ", ".join(f"{a}→{b}" for a, b in sorted(packages)) or "none",
                )
                self._engines.clear()
                self._cache.clear()
            self._packages = packages
            self._stamp = stamp

    def installed_pairs(self) -> list[tuple[str, str]]:
        self.refresh()
        with self._lock:
            return sorted(self._packages)

    def packages(self) -> list[PackageInfo]:
        self.refresh()
        with self._lock:
            return [self._packages[p] for p in sorted(self._packages)]

    # -- routing
    def route(self, source: str, target: str) -> tuple[str, ...] | None:
        """Languages from source to target: direct, else via the pivot, else None."""
        if source == target:
            return (source,)
        if not self.settings.enabled:
            return None
        pairs = set(self.installed_pairs())
        if (source, target) in pairs:
            return (source, target)
        pivot = self.settings.pivot
        if (
            pivot not in (source, target)
            and {(source, pivot), (pivot, target)} <= pairs
        ):
            return (source, pivot, target)
        return None

    def can_translate(
        self, source: str | None, target: str | None, flow: str = ""
    ) -> bool:
        """Whether a path exists (and, if given, the flow is switched on)."""
        if not source or not target:
            return False
        if flow and not self.settings.allows(flow):
            return False
        return self.route(source, target) is not None

    def _engine(self, pair: tuple[str, str]) -> Engine:
        with self._lock:
            engine = self._engines.get(pair)
            if engine is None:
                info = self._packages[pair]
                engine = ENGINES[self.engine_name](info, threads=self.settings.threads)
                self._engines[pair] = engine
            return engine

    # -- translation
    def translate(self, text: str, source: str, target: str) -> Translation:
        """Translate one text; raises TranslationUnavailable when there is no path."""
        return self.translate_batch([text], source, target)[0]

    def translate_batch(
        self, texts: Sequence[str], source: str, target: str
    ) -> list[Translation]:
        """Translate several texts; all uncached sentences go to the engine together."""
        started = self._clock()
        path = self.route(source, target)
        if path is None:
            raise TranslationUnavailable(
                f"no translation path {source}→{target} "
                f"(installed: {self._pairs_text()}; pivot {self.settings.pivot})"
            )
        if len(path) == 1:
            elapsed = (self._clock() - started) * 1000
            return [
                Translation(t, source, target, path, elapsed, engine=self.engine_name)
                for t in texts
            ]
        key = (source, target)
        results: list[str | None] = []
        with self._lock:
            for text in texts:
                hit = self._cache.get((*key, text))
                if hit is not None:
                    self._cache.move_to_end((*key, text))
                results.append(hit)
        todo = sorted({t for t, r in zip(texts, results, strict=True) if r is None})
        done: dict[str, tuple[str, tuple[str, ...]]] = {}
        if todo:
            masked = [protect(t) for t in todo]
            current = [m[0] for m in masked]
            for hop in itertools.pairwise(path):
                current = self._translate_texts(current, hop)
            for original, out, (_, spans) in zip(todo, current, masked, strict=True):
                done[original] = restore(out, spans)
            with self._lock:
                for original, (out, lost) in done.items():
                    if not lost and self.settings.cache_size:
                        self._cache[(*key, original)] = out
                        while len(self._cache) > self.settings.cache_size:
                            self._cache.popitem(last=False)
        missed = sum(1 for r in results if r is None)
        with self._lock:
            self.hits += len(texts) - missed
            self.misses += missed
        elapsed = (self._clock() - started) * 1000
        out_list = []
        for text, cached_text in zip(texts, results, strict=True):
            if cached_text is not None:
                out_list.append(
                    Translation(
                        cached_text,
                        source,
                        target,
                        path,
                        elapsed,
                        True,
                        engine=self.engine_name,
                    )
                )
            else:
                value, lost = done[text]
                out_list.append(
                    Translation(
                        value,
                        source,
                        target,
                        path,
                        elapsed,
                        False,
                        lost,
                        engine=self.engine_name,
                    )
                )
        return out_list

    def _translate_texts(
        self, texts: Sequence[str], pair: tuple[str, str]
    ) -> list[str]:
        """One hop for several texts: every line of every text in one engine call."""
        engine = self._engine(pair)
        lines = [text.split("\n") for text in texts]
        flat = [line for group in lines for line in group]
        translated = engine.translate_paragraphs(flat)
        out = []
        index = 0
        for group in lines:
            out.append("\n".join(translated[index : index + len(group)]))
            index += len(group)
        return out

    def _pairs_text(self) -> str:
        return ", ".join(f"{a}→{b}" for a, b in sorted(self._packages)) or "none"


# ----------------------------------------------------------------- process-wide

_services_lock = threading.Lock()
_translators: dict[tuple[Path, str], Translator] = {}


def translator_for(
    settings: TranslationSettings, engine: str | None = None
) -> Translator:
    """One Translator per package folder and engine per process (NLU, NLG share)."""
    key = (settings.packages_dir.resolve(), engine or settings.engine)
    with _services_lock:
        translator = _translators.get(key)
        if translator is None or translator.settings != settings:
            translator = Translator(settings, engine=engine)
            _translators[key] = translator
        return translator


# ------------------------------------------------------ conversation-level helpers

#: Metadata keys on bot messages (they reach BotUttered.metadata and the transcript).
MACHINE_TRANSLATED = "machine_translated"
LANGUAGE_FALLBACK = "language_fallback"


def servable(
    language: str | None, native: Iterable[str], translator: Translator | None
) -> bool:
    """Whether the bot can hold a conversation in ``language``.

    Native languages always; others when inbound translation to the pivot is on and
    installed (outbound is decided per message: without it the answer is in the pivot
    with an apology).
    """
    if not language:
        return False
    if language in set(native):
        return True
    return translator is not None and translator.can_translate(
        language, translator.settings.pivot, INBOUND
    )


def language_fallback_needed(
    served: str | None,
    detected: str | None,
    *,
    native: Iterable[str],
    default: str,
    can_serve: bool,
    already_said: bool,
) -> bool:
    """Whether to apologise that we answer in the default language (pure).

    True once per conversation, when the customer's detected language is not native
    and cannot be served, and the bot therefore answers in its default language.
    """
    return bool(
        detected
        and served == default
        and detected not in set(native)
        and not can_serve
        and not already_said
    )


def apology_due(
    served: Any,
    detected: Any,
    events: Iterable[Any],
    *,
    native: Iterable[str],
    default: str,
    translator: Translator | None,
) -> bool:
    """Whether a conversation still has to hear that we answer in ``default``.

    :func:`language_fallback_needed` fed from a conversation: its ``language`` and
    ``detected_language`` slots (``served``, ``detected``) and its events so far. The
    NLG server (bot.nlg) and the action server (actions.common) both ask this, so they
    apologise at the same moment and only once between them.
    """
    detected = detected if isinstance(detected, str) else None
    native = tuple(native)
    return language_fallback_needed(
        served or default,
        detected,
        native=native,
        default=default,
        can_serve=servable(detected, native, translator),
        already_said=flag_in_bot_events(events, LANGUAGE_FALLBACK),
    )


def notice_for(
    settings: TranslationSettings, language: str, already_noticed: bool
) -> str | None:
    """The short machine-translation notice, on the first translated message only."""
    if already_noticed:
        return None
    return settings.notice.get(language)


def flag_in_bot_events(events: Iterable[Any], key: str) -> bool:
    """Whether a bot message so far carries ``metadata[key]`` (dicts or events)."""
    for event in events:
        if isinstance(event, Mapping):
            if event.get("event") != "bot":
                continue
            metadata = event.get("metadata") or {}
        else:
            if type(event).__name__ != "BotUttered":
                continue
            metadata = getattr(event, "metadata", None) or {}
        if isinstance(metadata, Mapping) and metadata.get(key):
            return True
    return False

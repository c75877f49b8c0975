"""The language detector as it was before issue 13 (bot/language.py at 8eb6c03), frozen.

Kept only so bench/lid.py can show today's figures next to the previous detector's in
one run; nothing in the bot imports it. Its original documentation follows.

Language identification for short chat messages, and the sticky conversation rule.

Used in both environments (the Rasa 3.10 server through ``bot.nlu.language`` and the
3.11 action server), so this module imports nothing from Rasa.

How :meth:`LanguageDetector.detect` decides, in order:

1. Clean the text: first :data:`MAX_CHARS` characters, lone surrogates, control and
   bidi/format characters, URLs, e-mail addresses and @mentions removed, NFKC, runs of a
   repeated letter shortened ("pleaseeee"), chat tokens that belong to no language
   ("ok", "lol", "haha") dropped. No letters left: no language (emoji, digits, "ok").
2. Unicode script of the letters. If exactly one configured language is written in the
   dominant script, the script decides (Arabic script -> ``ar``). A script no configured
   language uses gives no language.
3. Otherwise py3langid, restricted to the configured languages of that script, with
   normalised probabilities. Croatian, Serbian and Bosnian are summed into one group,
   :data:`GROUP_CODE` ("hbs"): no library separates them on chat messages.
4. Marker words and characters (:data:`MARKERS`) shift the odds: Slovenian vs the
   hbs group (``kje``/``gdje``, ``ne morem``/``ne mogu``, ``ć``/``đ`` …) and a few
   greetings and function words for English and German, which decide one- and
   two-word messages that carry too few character n-grams for the model.
5. Optionally (``second_opinion=True``) langdetect's restricted probabilities are
   blended in for messages of three words or more. Off by default: on the benchmark
   (bench/lid.py) it gained nothing overall (one message worse on the tuning half, one
   better on the held-out half) and costs ~4 ms per message instead of ~0.07 ms.
6. Confidence is the winning probability, lowered for one- to three-word messages unless
   the script or marker words decided. Below :data:`MIN_CONFIDENCE`: no language.
   A ``hint`` (Telegram ``language_code``, browser locale) is used only when the text is
   undecidable or weak, and only if it names a configured language written in the
   message's script.

:func:`choose_language` is the pure sticky rule that keeps a conversation in its
language unless a message is confidently in another one. :class:`LanguageSettings`
reads the ``languages:`` section of supportbot.yml.
"""

from __future__ import annotations

import copy
import itertools
import logging
import math
import re
import threading
import unicodedata
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.settings import Section

logger = logging.getLogger(__name__)

#: Code reported for Croatian, Serbian and Bosnian together.
GROUP_CODE = "hbs"
#: The languages folded into :data:`GROUP_CODE`.
GROUP_MEMBERS = frozenset({"hr", "sr", "bs"})

#: Only this many characters are looked at: language is clear long before, and a
#: 10 kB paste must not cost more than a short message.
MAX_CHARS = 1000
#: Below this confidence a message has no language (it is undecidable).
MIN_CONFIDENCE = 0.2
#: Below this confidence a usable hint wins over the text.
WEAK_CONFIDENCE = 0.5
#: Confidence given to a language that only the hint supports: low on purpose, so a
#: hint never switches an established conversation language.
HINT_CONFIDENCE = 0.3
#: Upper bound for a script-decided confidence (a script is strong, never certain).
SCRIPT_CONFIDENCE = 0.99
#: Confidence multiplier by number of words: short messages carry little evidence.
LENGTH_FACTOR = {1: 0.6, 2: 0.75, 3: 0.9}
#: Log-odds added per marker point (e**1.5 ~ 4.5 times the odds).
MARKER_BOOST = 1.5
#: Marker points per language are capped: markers tip the balance, the model decides.
MARKER_CAP = 3.0
#: Weight of langdetect's probabilities when ``second_opinion`` is on.
SECOND_OPINION_WEIGHT = 0.3
#: Messages need this many words before langdetect is asked (it is poor below).
SECOND_OPINION_MIN_WORDS = 3


def _words(text: str) -> list[str]:
    return text.split()


#: ISO 639-1 codes the detector knows (py3langid 0.4.0's two-letter labels) plus the
#: group code. Checked against the installed model by tests/bot/test_language.py.
KNOWN_LANGUAGES = frozenset(
    _words("""
    af am an ar as az ba be bg bn br bs ca cs cy da de dz el en eo es et eu fa fi fo fr
    fy ga gd gl gu ha he hi hr ht hu hy id ig is it ja jv ka kk km kn ko ku ky la lb lg
    ln lo lt lv mg mk ml mn mr ms mt my ne nl nn no oc om or pa pl ps pt qu ro ru rw sa
    se si sk sl sn so sq sr st sv sw ta te tg th tk tl tr tt ug uk ur uz vi vo wa xh yo
    zh zu
    """)
) | {GROUP_CODE}

#: Common mistakes in language lists, for the error message's fix.
_CODE_SUGGESTIONS = {
    "eng": "en",
    "ara": "ar",
    "slv": "sl",
    "slo": "sl",
    "deu": "de",
    "ger": "de",
    "hrv": "hr",
    "srp": "sr",
    "bos": "bs",
    "sh": "hbs",
    "sc": "hbs",
    "cz": "cs",
    "gr": "el",
    "dk": "da",
    "ua": "uk",
    "jp": "ja",
    "kr": "ko",
    "cn": "zh",
    "rs": "sr",
    "ba": "bs",
    "iw": "he",
    "fra": "fr",
    "spa": "es",
    "ita": "it",
    "rus": "ru",
    "tur": "tr",
}

# Scripts by the first word of the Unicode character name ("ARABIC LETTER ALEF").
_LATIN = "LATIN"
#: Scripts a language is written in; languages not listed are written in Latin script.
LANGUAGE_SCRIPTS: Mapping[str, frozenset[str]] = {
    **{c: frozenset({"ARABIC"}) for c in ("ar", "fa", "ur", "ps", "ug")},
    **{
        c: frozenset({"CYRILLIC"})
        for c in ("ru", "uk", "bg", "mk", "be", "kk", "ky", "mn", "tg", "tt", "ba")
    },
    "sr": frozenset({_LATIN, "CYRILLIC"}),
    GROUP_CODE: frozenset({_LATIN, "CYRILLIC"}),
    "el": frozenset({"GREEK"}),
    "he": frozenset({"HEBREW"}),
    "hy": frozenset({"ARMENIAN"}),
    "ka": frozenset({"GEORGIAN"}),
    **{c: frozenset({"DEVANAGARI"}) for c in ("hi", "mr", "ne", "sa")},
    **{c: frozenset({"BENGALI"}) for c in ("bn", "as")},
    "ta": frozenset({"TAMIL"}),
    "te": frozenset({"TELUGU"}),
    "kn": frozenset({"KANNADA"}),
    "ml": frozenset({"MALAYALAM"}),
    "gu": frozenset({"GUJARATI"}),
    "pa": frozenset({"GURMUKHI"}),
    "or": frozenset({"ORIYA"}),
    "si": frozenset({"SINHALA"}),
    "th": frozenset({"THAI"}),
    "lo": frozenset({"LAO"}),
    "km": frozenset({"KHMER"}),
    "my": frozenset({"MYANMAR"}),
    "am": frozenset({"ETHIOPIC"}),
    "dz": frozenset({"TIBETAN"}),
    "zh": frozenset({"HAN"}),
    "ja": frozenset({"HAN", "HIRAGANA", "KATAKANA"}),
    "ko": frozenset({"HANGUL", "HAN"}),
}
#: Scripts written without spaces: words are estimated from the number of letters.
_UNSPACED_SCRIPTS = frozenset(
    {"HAN", "HIRAGANA", "KATAKANA", "THAI", "LAO", "KHMER", "MYANMAR"}
)

#: Marker words (and two-word phrases) with weights. A marker adds
#: ``MARKER_BOOST * weight`` to its language's log-odds. Weight 1: the word is not used
#: in the competing languages; 0.5: mostly. Written from general knowledge of the
#: languages, not from the benchmark messages.
MARKERS: Mapping[str, Mapping[str, float]] = {
    "sl": {
        **dict.fromkeys(
            _words("""
            kje kdaj zakaj lahko prosim vem sem nisem še tudi zelo spet jutri danes
            včeraj vceraj zdaj zdej sedaj tukaj denar denarja naročilo naročila naročilu
            naročilom narocilo narocila narocilu narocilom morem moreš mores deluje
            kar pozdravljeni živjo zivjo bom boš boste bo geslo gesla vračilo vracilo
            poštnina postnina nekaj nič mojga tvojga kok kolk lp hočem hocem želel
            želela zelel zelela prejel prejela prispel prispela dober dolgo traja
            trajala trajalo lep
            """),
            1.0,
        ),
        **dict.fromkeys(_words("kaj rabim dela stane"), 0.5),
        "hvala lepa": 2.0,
        "v redu": 2.0,
        "dober dan": 2.0,
        "lep pozdrav": 2.0,
        "ne vem": 1.0,
    },
    GROUP_CODE: {
        **dict.fromkeys(
            _words("""
            gdje gde što šta zašto zasto kad kada sutra danas jučer juče jucer juce
            sada ovdje ovde opet još jos uvijek uvek vrijeme vreme novac novca novcem
            nije nisam mogu može moze možete mozete možeš mozes molim puno narudžba
            narudžbu narudžbe narudžbom narudzba narudzbu narudzbe narudzbom
            porudžbina porudžbinu porudžbine porudzbina porudzbinu porudzbine lozinka
            lozinku lozinke hoću hocu hoće hoce htio hteo htjela htela trebam ništa
            nista li jel bok zdravo ćao selam nešto nesto stigao stigla stiglo
            nazvati pozovete razgovarati razgovaram pričati pričam pricam vikendom
            znam koji koja koje ovaj ovo lijep lijepa lijepo
            """),
            1.0,
        ),
        **dict.fromkeys(_words("radi treba košta kosta pare sam hitno"), 0.5),
        "hvala lijepa": 2.0,
        "u redu": 2.0,
    },
    "en": dict.fromkeys(
        _words("""
        hello hi hey thanks thank thx ty please pls plz bye sorry yes the my your you
        is are what where when how why can can't cant don't dont doesn't doesnt isn't
        isnt i'm it's its not with for and of
        """),
        1.0,
    ),
    "de": dict.fromkeys(
        _words("""
        hallo danke bitte ich nicht ist und der das wo wie warum mein meine meinen
        meiner mich mir ihr euch eure gibt gibts kann können koennen habe haben noch
        schon auch tschüss tschüs moin grüß gruss guten morgen geht nichts kein keine
        keinen wann weil aber
        """),
        1.0,
    ),
}
#: Characters that mark a language (Slovenian has no ć or đ).
CHAR_MARKERS: Mapping[str, Mapping[str, float]] = {GROUP_CODE: {"ć": 1.0, "đ": 1.0}}

#: Chat tokens that belong to no language: dropped before counting words or detecting.
NEUTRAL_TOKENS = frozenset(
    _words("""
    ok okay okey okej oke oki okk kk k lol lmao xd xdd hmm hm mhm aha ah oh eh uh uhm um
    wow super top bravo yay np
    """)
)
_LAUGH_RE = re.compile(r"^(?:[hx][aeiu]|[aeiu]h|j[aeiu]){2,}h?$")
_URL_START = ("http://", "https://", "www.")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_FORMAT_RE = re.compile(
    "[\u00ad\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff"
    "\ufff9-\ufffb\U000e0000-\U000e007f]"
)
_REPEAT_RE = re.compile(r"([^\W\d_])\1{2,}")
_TOKEN_RE = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")
_LOCALE_RE = re.compile(r"[A-Za-z]{2,3}(?=$|[-_.,;@\s])")


@dataclass(frozen=True)
class Detection:
    """What the detector found in one message.

    Attributes:
        language: ISO 639-1 code, :data:`GROUP_CODE` for Croatian/Serbian/Bosnian, or
            None when undecidable (emoji only, digits, "ok", a script no configured
            language uses).
        confidence: 0..1; lowered for one- to three-word messages.
        method: what decided: "script", "py3langid", "py3langid+markers",
            "py3langid+langdetect" (optionally "+markers"), "hint" or "none".
        candidates: up to three ``(language, probability)`` pairs, best first.
        words: words that carry language (no emoji, numbers, URLs, "ok", "lol").
    """

    language: str | None
    confidence: float
    method: str
    candidates: tuple[tuple[str, float], ...] = ()
    words: int = 0

    @classmethod
    def none(cls) -> Detection:
        """No language: empty, emoji-only or undecidable text, or nothing detected."""
        return cls(None, 0.0, "none")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form; this is what travels in Rasa's parse_data["language"]."""
        return {
            "language": self.language,
            "confidence": self.confidence,
            "method": self.method,
            "candidates": [[code, p] for code, p in self.candidates],
            "words": self.words,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Detection:
        """Inverse of :meth:`to_dict` (also accepts tuples); ValueError if malformed."""
        try:
            language = data.get("language")
            if language is not None and not isinstance(language, str):
                raise TypeError("language must be a string or null")
            candidates = tuple(
                (str(code), float(p)) for code, p in data.get("candidates") or ()
            )
            return cls(
                language=language,
                confidence=float(data.get("confidence", 0.0)),
                method=str(data.get("method", "none")),
                candidates=candidates,
                words=int(data.get("words", 0)),
            )
        except (AttributeError, TypeError, ValueError) as exc:
            raise ValueError(f"not a language detection: {data!r} ({exc})") from None


def normalize_code(code: str | None) -> str | None:
    """A language code from a locale: "sl-SI" -> "sl", "sr_Latn_RS" -> "hbs".

    Also "SL" -> "sl", "de-DE,de;q=0.9" -> "de". Croatian, Serbian and Bosnian become
    :data:`GROUP_CODE`. None for anything that does not start with a two- or
    three-letter language subtag.
    """
    if not isinstance(code, str):
        return None
    match = _LOCALE_RE.match(code.strip())
    if not match:
        return None
    base = match.group(0).lower()
    return GROUP_CODE if base in GROUP_MEMBERS else base


def script_of(language: str | None) -> frozenset[str]:
    """Scripts a language code is written in (Latin unless listed)."""
    if language is None:
        return frozenset()
    return LANGUAGE_SCRIPTS.get(language, frozenset({_LATIN}))


# --- the sticky rule -----------------------------------------------------------------


def choose_language(
    previous: str | None,
    detection: Detection,
    *,
    default: str,
    switch_confidence: float,
    min_words_to_switch: int,
    hint: str | None = None,
    allowed: Collection[str] | None = None,
) -> str:
    """The conversation's language after this message (pure; the sticky rule).

    With a previous language, it is kept unless the message is confidently another:
    ``confidence >= switch_confidence`` and ``words >= min_words_to_switch``, or a
    decisive change of script: the script alone decided (method "script", e.g. Arabic
    script when ``ar`` is the only Arabic-script language) and the previous language is
    not written in it, even for one word. Latin text in an Arabic conversation is not
    decisive (many languages share the Latin script), so "thanks" keeps ``ar``.
    A hint-based detection never switches. With no previous language: the detection if
    it has a language, else the hint, else ``default``.

    Args:
        previous: the conversation's language so far, or None on the first message.
        detection: this message's detection.
        default: language when nothing better is known.
        switch_confidence: confidence a message needs to switch.
        min_words_to_switch: words a message needs to switch.
        hint: a locale hint ("sl-SI") for the first message.
        allowed: if given, a hint outside it is ignored.
    """
    language = detection.language
    if previous is None:
        if language is not None:
            return language
        hinted = normalize_code(hint)
        if hinted is not None and (allowed is None or hinted in allowed):
            return hinted
        return default
    if language is None or language == previous or detection.method == "hint":
        return previous
    if detection.method == "script" and not script_of(language) & script_of(previous):
        return language
    if (
        detection.confidence >= switch_confidence
        and detection.words >= min_words_to_switch
    ):
        return language
    return previous


# --- settings ------------------------------------------------------------------------


def _as_list(codes: Iterable[str] | str) -> list[str]:
    return [codes] if isinstance(codes, str) else list(codes)


def check_language_codes(raw: Any, where: str) -> tuple[str, ...]:
    """Validate a list of codes; raises ValueError naming the bad entry and the fix."""
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, (list, tuple)):
        raise ValueError(f"{where} must be a list of language codes, got {raw!r}")
    codes: list[str] = []
    for item in raw:
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"{where}: {item!r} is not a language code")
        code = item.strip().lower()
        if code not in KNOWN_LANGUAGES:
            hint = _CODE_SUGGESTIONS.get(code)
            fix = f"did you mean '{hint}'?" if hint else "use ISO 639-1 codes (en, sl)"
            raise ValueError(f"{where}: unknown language code '{item}' ({fix})")
        if code not in codes:
            codes.append(code)
    return tuple(codes)


@dataclass(frozen=True)
class LanguageSettings:
    """The ``languages:`` section of supportbot.yml, validated."""

    supported: tuple[str, ...]
    default: str
    also_detect: tuple[str, ...] = ()
    switch_confidence: float = 0.9
    min_words_to_switch: int = 2

    KEYS = (
        "supported",
        "default",
        "also_detect",
        "switch_confidence",
        "min_words_to_switch",
    )

    @classmethod
    def from_section(cls, section: Section) -> LanguageSettings:
        """Read and validate the section; ConfigError names the key and the fix."""
        for key in section.data:
            if key not in cls.KEYS:
                raise section.error(
                    str(key), "unknown key", f"use one of: {', '.join(cls.KEYS)}"
                )
        values: dict[str, Any] = {}
        for key in ("supported", "also_detect"):
            raw = section.require(key) if key == "supported" else section.get(key, [])
            try:
                values[key] = check_language_codes(raw or [], key)
            except ValueError as exc:
                raise section.error(
                    key, str(exc).split(": ", 1)[-1], "list ISO 639-1 codes: [en, sl]"
                ) from None
        if not values["supported"]:
            raise section.error("supported", "is empty", "list at least one language")
        default = section.get("default", values["supported"][0])
        if (
            not isinstance(default, str)
            or default.strip().lower() not in values["supported"]
        ):
            raise section.error(
                "default",
                f"{default!r} is not one of the supported languages "
                f"{list(values['supported'])}",
                "set it to one of them or add it to 'supported'",
            )
        confidence = section.get("switch_confidence", 0.9)
        if (
            isinstance(confidence, bool)
            or not isinstance(confidence, (int, float))
            or not 0.0 < float(confidence) <= 1.0
        ):
            raise section.error(
                "switch_confidence",
                f"must be a number in (0, 1], got {confidence!r}",
                "0.9 keeps conversations steady",
            )
        min_words = section.get("min_words_to_switch", 2)
        if (
            isinstance(min_words, bool)
            or not isinstance(min_words, int)
            or min_words < 1
        ):
            raise section.error(
                "min_words_to_switch",
                f"must be a whole number >= 1, got {min_words!r}",
                "2 ignores one-word replies such as 'thanks'",
            )
        return cls(
            supported=values["supported"],
            default=default.strip().lower(),
            also_detect=tuple(c for c in values["also_detect"]),
            switch_confidence=float(confidence),
            min_words_to_switch=min_words,
        )


# --- models, loaded lazily once per process ------------------------------------------

_model_lock = threading.Lock()
_py3langid_base: Any = None
_py3langid_restricted: dict[frozenset[str], Any] = {}
_langdetect_factory: Any = None


def _py3langid_for(labels: frozenset[str]) -> Any:
    """A py3langid identifier restricted to ``labels`` (normalised probabilities)."""
    global _py3langid_base
    identifier = _py3langid_restricted.get(labels)
    if identifier is not None:
        return identifier
    with _model_lock:
        identifier = _py3langid_restricted.get(labels)
        if identifier is None:
            if _py3langid_base is None:
                from py3langid.langid import MODEL_FILE, LanguageIdentifier

                _py3langid_base = LanguageIdentifier.from_model_file(
                    MODEL_FILE, norm_probs=True
                )
            # set_languages rebinds (never mutates) the arrays: a shallow copy shares
            # the loaded model and restricts only its own view.
            identifier = copy.copy(_py3langid_base)
            identifier.set_languages(sorted(labels))
            _py3langid_restricted[labels] = identifier
    return identifier


def _langdetect() -> Any:
    """Langdetect's bundled profiles in a private factory, seeded (deterministic)."""
    global _langdetect_factory
    if _langdetect_factory is None:
        with _model_lock:
            if _langdetect_factory is None:
                from langdetect.detector_factory import (
                    PROFILES_DIRECTORY,
                    DetectorFactory,
                )

                factory = DetectorFactory()
                factory.load_profile(PROFILES_DIRECTORY)
                factory.set_seed(0)
                _langdetect_factory = factory
    return _langdetect_factory


# --- text preparation ----------------------------------------------------------------

_script_cache: dict[str, str | None] = {}


def _char_script(ch: str) -> str | None:
    script = _script_cache.get(ch)
    if script is None and ch not in _script_cache:
        if ch.isalpha():
            try:
                first = unicodedata.name(ch).split(" ", 1)[0]
            except ValueError:
                first = "UNKNOWN"
            script = "HAN" if first == "CJK" else first
        _script_cache[ch] = script
    return script


@dataclass(frozen=True)
class _Prepared:
    tokens: tuple[str, ...]  # lower-cased words that carry language
    model_text: str  # letters only, for the statistical models
    scripts: Mapping[str, int]  # letters per script
    words: int


def _prepare(text: str, max_chars: int) -> _Prepared:
    if not isinstance(text, str):
        text = ""
    text = text[:max_chars]
    text = text.encode("utf-8", "ignore").decode("utf-8")  # lone surrogates
    text = _FORMAT_RE.sub("", _CONTROL_RE.sub(" ", text))
    text = unicodedata.normalize("NFKC", text)
    # URLs, e-mail addresses and @mentions carry no language (token-wise: linear time)
    text = " ".join(
        t for t in text.lower().split() if "@" not in t and not t.startswith(_URL_START)
    )
    text = _REPEAT_RE.sub(r"\1", text.replace("’", "'").replace("`", "'"))
    tokens = [
        t
        for t in _TOKEN_RE.findall(text)
        if t not in NEUTRAL_TOKENS and not _LAUGH_RE.match(t)
    ]
    scripts: dict[str, int] = {}
    if sum(len(t) for t in tokens) < 2:  # "k", "?": nothing to detect
        tokens = []
    for token in tokens:
        for ch in token:
            script = _char_script(ch)
            if script is not None:
                scripts[script] = scripts.get(script, 0) + 1
    words = len(tokens)
    if scripts:
        dominant = max(scripts, key=scripts.__getitem__)
        if dominant in _UNSPACED_SCRIPTS:
            words = max(words, scripts[dominant] // 2)
    return _Prepared(tuple(tokens), " ".join(tokens), scripts, words)


def _marker_scores(prep: _Prepared, languages: Collection[str]) -> dict[str, float]:
    scores: dict[str, float] = {}
    tokens = prep.tokens
    bigrams = [f"{a} {b}" for a, b in itertools.pairwise(tokens)]
    for language in languages:
        lexicon = MARKERS.get(language)
        chars = CHAR_MARKERS.get(language)
        score = 0.0
        if lexicon:
            score += sum(lexicon.get(t, 0.0) for t in tokens)
            score += sum(lexicon.get(b, 0.0) for b in bigrams)
        if chars:
            score += sum(w for ch, w in chars.items() if ch in prep.model_text)
        if score:
            scores[language] = min(score, MARKER_CAP)
    return scores


# --- the detector --------------------------------------------------------------------


class LanguageDetector:
    """Detects the language of chat messages among the configured languages.

    Args:
        supported: languages the bot answers natively (data/nlu/<code>).
        also_detect: further languages the detector may answer, so that e.g. Croatian
            is recognised rather than forced into Slovenian.
        default: the language :func:`choose_language` falls back to; kept here for
            callers, detection never returns it without evidence.
        second_opinion: blend in langdetect for messages of 3+ words (see module doc).
        max_chars: characters looked at.

    Raises:
        ValueError: an unknown language code.
    """

    def __init__(
        self,
        supported: Iterable[str],
        also_detect: Iterable[str] = (),
        default: str | None = None,
        *,
        second_opinion: bool = False,
        max_chars: int = MAX_CHARS,
    ) -> None:
        supported_codes = check_language_codes(_as_list(supported), "supported")
        also_codes = check_language_codes(_as_list(also_detect), "also_detect")
        if not supported_codes:
            raise ValueError("supported: list at least one language")
        # The group is reported as the one member the bot supports natively, if exactly
        # one is supported (supported: [hr] -> "hr"), else as "hbs".
        native = [c for c in supported_codes if c in GROUP_MEMBERS]
        self.group_code = native[0] if len(native) == 1 else GROUP_CODE
        outputs: list[str] = []
        for code in supported_codes + also_codes:
            out = self.group_code if code in GROUP_MEMBERS | {GROUP_CODE} else code
            if out not in outputs:
                outputs.append(out)
        self.supported = tuple(
            self.group_code if c in GROUP_MEMBERS | {GROUP_CODE} else c
            for c in supported_codes
        )
        self.languages = tuple(outputs)
        self.default = (default or self.supported[0]).strip().lower()
        if self.default in GROUP_MEMBERS:
            self.default = self.group_code
        if self.default not in self.languages:
            raise ValueError(f"default: '{default}' is not a configured language")
        self.second_opinion = second_opinion
        self.max_chars = max_chars
        self._by_script: dict[str, tuple[str, ...]] = {}
        for out in self.languages:
            for script in script_of(GROUP_CODE if out == self.group_code else out):
                self._by_script[script] = (*self._by_script.get(script, ()), out)

    @classmethod
    def from_settings(
        cls, settings: LanguageSettings, **kwargs: Any
    ) -> LanguageDetector:
        return cls(settings.supported, settings.also_detect, settings.default, **kwargs)

    def _model_labels(self, outputs: Iterable[str]) -> frozenset[str]:
        labels: set[str] = set()
        for out in outputs:
            labels |= GROUP_MEMBERS if out == self.group_code else {out}
        return frozenset(labels)

    def _label_to_output(self, label: str) -> str:
        return self.group_code if label in GROUP_MEMBERS else label

    def warm_up(self) -> None:
        """Load the models now (start-up) instead of on the first message."""
        for outputs in self._by_script.values():
            if len(outputs) > 1:
                _py3langid_for(self._model_labels(outputs))
        if self.second_opinion:
            _langdetect()

    def _hint(self, hint: str | None) -> str | None:
        code = normalize_code(hint)
        if code == GROUP_CODE:
            code = self.group_code
        return code if code in self.languages else None

    def detect(self, text: str, hint: str | None = None) -> Detection:
        """Detect the language of one message; never raises.

        Args:
            text: the message (any string; only the first ``max_chars`` are read).
            hint: a locale such as "sl-SI", used only when the text is undecidable or
                weak and the hinted language is written in the message's script.
        """
        try:
            return self._detect(text, hint)
        except Exception:  # a chat pipeline must survive any message
            logger.warning("language detection failed; no language", exc_info=True)
            return Detection.none()

    def _detect(self, text: str, hint: str | None) -> Detection:
        prep = _prepare(text, self.max_chars)
        hinted = self._hint(hint)
        if not prep.scripts:
            if hinted is not None:
                return Detection(
                    hinted, HINT_CONFIDENCE, "hint", ((hinted, HINT_CONFIDENCE),)
                )
            return Detection(None, 0.0, "none", (), prep.words)

        letters = sum(prep.scripts.values())
        script = max(prep.scripts, key=prep.scripts.__getitem__)
        share = prep.scripts[script] / letters
        outputs = self._by_script.get(script, ())
        if not outputs:  # a script none of the configured languages is written in
            if hinted is not None:
                return Detection(hinted, HINT_CONFIDENCE, "hint", (), prep.words)
            return Detection(None, 0.0, "script", (), prep.words)
        if len(outputs) == 1:
            confidence = round(min(SCRIPT_CONFIDENCE, share), 4)
            return Detection(
                outputs[0],
                confidence,
                "script",
                ((outputs[0], confidence),),
                prep.words,
            )

        identifier = _py3langid_for(self._model_labels(outputs))
        ranked = identifier.rank(prep.model_text)
        if ranked[0][1] - ranked[-1][1] < 1e-6:  # no features: a uniform guess
            if hinted is not None and script in script_of(hinted):
                return Detection(hinted, HINT_CONFIDENCE, "hint", (), prep.words)
            return Detection(None, 0.0, "none", (), prep.words)
        probs: dict[str, float] = {}
        for label, p in ranked:
            out = self._label_to_output(label)
            probs[out] = probs.get(out, 0.0) + p
        method = "py3langid"

        if self.second_opinion and prep.words >= SECOND_OPINION_MIN_WORDS:
            second = self._langdetect_probs(prep.model_text, probs.keys())
            if second:
                probs = {
                    k: (1 - SECOND_OPINION_WEIGHT) * p
                    + SECOND_OPINION_WEIGHT * second.get(k, 0.0)
                    for k, p in probs.items()
                }
                method = "py3langid+langdetect"

        markers = _marker_scores(prep, probs.keys())
        if markers:
            logits = {
                k: math.log(max(p, 1e-12)) + MARKER_BOOST * markers.get(k, 0.0)
                for k, p in probs.items()
            }
            top_logit = max(logits.values())
            exp = {k: math.exp(v - top_logit) for k, v in logits.items()}
            total = sum(exp.values())
            probs = {k: v / total for k, v in exp.items()}
            method += "+markers"

        ranking = sorted(probs.items(), key=lambda kv: kv[1], reverse=True)
        best, p_best = ranking[0]
        competitor = max((s for k, s in markers.items() if k != best), default=0.0)
        decided_by_markers = markers.get(best, 0.0) >= 1.0 + competitor
        factor = 1.0 if decided_by_markers else LENGTH_FACTOR.get(prep.words, 1.0)
        confidence = round(p_best * factor, 4)
        candidates = tuple((k, round(p, 4)) for k, p in ranking[:3])

        if (
            hinted is not None
            and hinted != best
            and script in script_of(hinted)
            and confidence < WEAK_CONFIDENCE
            and not decided_by_markers
        ):
            return Detection(hinted, HINT_CONFIDENCE, "hint", candidates, prep.words)
        if confidence < MIN_CONFIDENCE:
            return Detection(None, confidence, method, candidates, prep.words)
        return Detection(best, confidence, method, candidates, prep.words)

    def _langdetect_probs(self, text: str, outputs: Iterable[str]) -> dict[str, float]:
        from langdetect.lang_detect_exception import LangDetectException

        wanted = set(outputs)
        detector = _langdetect().create()
        detector.append(text)
        try:
            found = detector.get_probabilities()
        except LangDetectException:
            return {}
        probs: dict[str, float] = {}
        for item in found:
            out = self._label_to_output(item.lang.split("-")[0])
            if out in wanted:
                probs[out] = probs.get(out, 0.0) + item.prob
        total = sum(probs.values())
        return {k: v / total for k, v in probs.items()} if total > 0 else {}

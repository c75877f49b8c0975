"""The language detector: script first, then the fitted combination of evidence.

How :meth:`LanguageDetector.detect` decides:

1. Clean the text (bot.language.text). No letters left: no language, or the hint.
2. The Unicode script of the letters. If exactly one configured language is written in
   the dominant script, the script decides (Arabic script -> ``ar``). A script no
   configured language uses gives no language.
3. Otherwise the languages of that script compete: py3langid, lingua and the
   dictionaries each score them (bot.language.evidence) and the fitted logistic
   regression (bot.language.model) turns the scores into probabilities. Croatian,
   Serbian and Bosnian are one output (:data:`GROUP_CODE`).
4. Below :data:`MIN_CONFIDENCE` the message is undecided (language None): a best guess
   that is more likely wrong than right. The sticky rule or the channel hint decide
   then. A ``hint`` (Telegram ``language_code``, browser locale) also wins over a weak
   detection (below :data:`WEAK_CONFIDENCE`) if it names a configured language written
   in the message's script.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.language.codes import (
    GROUP_CODE,
    GROUP_MEMBERS,
    check_language_codes,
    normalize_code,
    script_of,
)
from bot.language.evidence import Evidence, no_evidence
from bot.language.model import load_weights
from bot.language.text import MAX_CHARS, prepare

logger = logging.getLogger(__name__)

#: Below this probability a message has no language: the calibrated model says the
#: best guess is more likely wrong than right.
MIN_CONFIDENCE = 0.5
#: Below this confidence a usable hint wins over the text.
WEAK_CONFIDENCE = 0.7
#: Confidence given to a language that only the hint supports: low on purpose, so a
#: hint never switches an established conversation language.
HINT_CONFIDENCE = 0.3
#: Upper bound for a script-decided confidence (a script is strong, never certain).
SCRIPT_CONFIDENCE = 0.99


@dataclass(frozen=True)
class Detection:
    """What the detector found in one message.

    Attributes:
        language: ISO 639-1 code, :data:`GROUP_CODE` for Croatian/Serbian/Bosnian, or
            None when undecided (emoji only, digits, "ok", weak evidence, a script no
            configured language uses).
        confidence: 0..1, the fitted probability of ``language`` (or of the best
            candidate when undecided).
        method: what decided: "script", "combined", "hint" or "none".
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


def _as_list(codes: Iterable[str] | str) -> list[str]:
    return [codes] if isinstance(codes, str) else list(codes)


class LanguageDetector:
    """Detects the language of chat messages among the configured languages.

    Args:
        supported: languages the bot answers natively (data/nlu/<code>).
        also_detect: further languages the detector may answer, so that e.g. Croatian
            is recognised rather than forced into Slovenian.
        default: the language :func:`choose_language` falls back to; kept here for
            callers, detection never returns it without evidence.
        max_chars: characters looked at.

    Raises:
        ValueError: an unsupported language code (naming it and the supported list).
    """

    def __init__(
        self,
        supported: Iterable[str],
        also_detect: Iterable[str] = (),
        default: str | None = None,
        *,
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
        grouped = GROUP_MEMBERS | {GROUP_CODE}
        outputs: list[str] = []
        for code in supported_codes + also_codes:
            out = self.group_code if code in grouped else code
            if out not in outputs:
                outputs.append(out)
        self.supported = tuple(
            self.group_code if c in grouped else c for c in supported_codes
        )
        self.languages = tuple(outputs)
        self.default = (default or self.supported[0]).strip().lower()
        if self.default in GROUP_MEMBERS:
            self.default = self.group_code
        if self.default not in self.languages:
            raise ValueError(f"default: '{default}' is not a configured language")
        self.max_chars = max_chars
        self._by_script: dict[str, tuple[str, ...]] = {}
        for out in self.languages:
            for script in script_of(GROUP_CODE if out == self.group_code else out):
                self._by_script[script] = (*self._by_script.get(script, ()), out)
        self._evidence: dict[str, Evidence] = {}

    @classmethod
    def from_settings(cls, settings: Any, **kwargs: Any) -> LanguageDetector:
        """A detector for a :class:`bot.language.LanguageSettings`."""
        return cls(settings.supported, settings.also_detect, settings.default, **kwargs)

    def _evidence_for(self, script: str) -> Evidence:
        evidence = self._evidence.get(script)
        if evidence is None:
            evidence = Evidence(self._by_script[script], self.group_code)
            self._evidence[script] = evidence
        return evidence

    def warm_up(self) -> None:
        """Load models, dictionaries and weights now (start-up), not on a message."""
        load_weights()
        for script, outputs in self._by_script.items():
            if len(outputs) > 1:
                self._evidence_for(script)

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
        prep = prepare(text, self.max_chars)
        hinted = self._hint(hint)
        script = prep.dominant_script
        if script is None:
            if hinted is not None:
                return Detection(
                    hinted, HINT_CONFIDENCE, "hint", ((hinted, HINT_CONFIDENCE),)
                )
            return Detection(None, 0.0, "none", (), prep.words)

        outputs = self._by_script.get(script, ())
        if not outputs:  # a script none of the configured languages is written in
            if hinted is not None:
                return Detection(hinted, HINT_CONFIDENCE, "hint", (), prep.words)
            return Detection(None, 0.0, "script", (), prep.words)
        if len(outputs) == 1:
            share = prep.scripts[script] / sum(prep.scripts.values())
            confidence = round(min(SCRIPT_CONFIDENCE, share), 4)
            return Detection(
                outputs[0], confidence, "script", ((outputs[0], confidence),), prep.words
            )

        rows = self._evidence_for(script).features(prep)
        if no_evidence(rows):
            if hinted is not None and script in script_of(hinted):
                return Detection(hinted, HINT_CONFIDENCE, "hint", (), prep.words)
            return Detection(None, 0.0, "none", (), prep.words)
        probs = load_weights().probabilities(rows, outputs, prep.words)
        ranking = sorted(
            zip(outputs, (float(p) for p in probs), strict=True),
            key=lambda kv: kv[1],
            reverse=True,
        )
        best, confidence = ranking[0][0], round(ranking[0][1], 4)
        candidates = tuple((k, round(p, 4)) for k, p in ranking[:3])
        if (
            hinted is not None
            and script in script_of(hinted)
            and confidence < WEAK_CONFIDENCE
            and (hinted != best or confidence < MIN_CONFIDENCE)
        ):
            return Detection(hinted, HINT_CONFIDENCE, "hint", candidates, prep.words)
        if confidence < MIN_CONFIDENCE:
            return Detection(None, confidence, "combined", candidates, prep.words)
        return Detection(best, confidence, "combined", candidates, prep.words)

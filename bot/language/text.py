"""Text preparation: the letters of a message that carry language, and their scripts.

Chat messages carry a lot that belongs to no language (emoji, order numbers, URLs,
e-mail addresses, "ok", "lol", "pleaseeee"); every evidence source sees the same cleaned
words, so they are prepared once here.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

#: Only this many characters are looked at: language is clear long before, and a
#: 10 kB paste must not cost more than a short message.
MAX_CHARS = 1000

#: Chat tokens that belong to no language: dropped before counting words or detecting.
NEUTRAL_TOKENS = frozenset(
    """
    ok okay okey okej oke oki okk kk k lol lmao xd xdd hmm hm mhm aha ah oh eh uh uhm um
    wow super top bravo yay np
    """.split()  # noqa: SIM905
)
#: Scripts written without spaces: words are estimated from the number of letters.
_UNSPACED_SCRIPTS = frozenset(
    {"HAN", "HIRAGANA", "KATAKANA", "THAI", "LAO", "KHMER", "MYANMAR"}
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

_script_cache: dict[str, str | None] = {}


def char_script(ch: str) -> str | None:
    """The script of a letter by its Unicode name's first word; None for non-letters."""
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
class Prepared:
    """A message reduced to what carries language."""

    tokens: tuple[str, ...]  # lower-cased words that carry language
    model_text: str  # the tokens joined by spaces, for the statistical models
    scripts: Mapping[str, int]  # letters per script
    words: int

    @property
    def dominant_script(self) -> str | None:
        """The script most letters are written in (None without letters)."""
        if not self.scripts:
            return None
        return max(self.scripts, key=self.scripts.__getitem__)


def prepare(text: object, max_chars: int = MAX_CHARS) -> Prepared:
    """Clean a message: first ``max_chars`` characters, no URLs, e-mails, chat tokens.

    Lone surrogates, control and bidi/format characters are removed, the text is
    NFKC-normalised and lower-cased, runs of a repeated letter are shortened
    ("pleaseeee" -> "please"). Linear in the input and never raises for a string.
    """
    if not isinstance(text, str):
        text = ""
    text = text[:max_chars]
    text = text.encode("utf-8", "ignore").decode("utf-8")  # lone surrogates
    text = _FORMAT_RE.sub("", _CONTROL_RE.sub(" ", text))
    text = unicodedata.normalize("NFKC", text)
    text = " ".join(
        t for t in text.lower().split() if "@" not in t and not t.startswith(_URL_START)
    )
    text = _REPEAT_RE.sub(r"\1", text.replace("\u2019", "'").replace("`", "'"))
    tokens = [
        t
        for t in _TOKEN_RE.findall(text)
        if t not in NEUTRAL_TOKENS and not _LAUGH_RE.match(t)
    ]
    if sum(len(t) for t in tokens) < 2:  # "k", "?": nothing to detect
        tokens = []
    scripts: dict[str, int] = {}
    for token in tokens:
        for ch in token:
            script = char_script(ch)
            if script is not None:
                scripts[script] = scripts.get(script, 0) + 1
    words = len(tokens)
    if scripts:
        dominant = max(scripts, key=scripts.__getitem__)
        if dominant in _UNSPACED_SCRIPTS:
            words = max(words, scripts[dominant] // 2)
    return Prepared(tuple(tokens), " ".join(tokens), scripts, words)

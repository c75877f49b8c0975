"""Language codes: which ones the detector knows, scripts, the hr/sr/bs group, locales.

One table of codes for the whole package, so the settings check, the detector and the
error messages cannot disagree about what "supported" means.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

#: Code reported for Croatian, Serbian and Bosnian together.
GROUP_CODE = "hbs"
#: The languages folded into :data:`GROUP_CODE`.
GROUP_MEMBERS = frozenset({"hr", "sr", "bs"})

#: ISO 639-1 codes every evidence source knows: py3langid 0.4.0, lingua 2.1.1 and
#: simplemma 2.0.0's dictionaries (its "hbs" dictionary covers hr, sr and bs), plus the
#: group code. A language one source lacks would be judged on less evidence than its
#: rivals, which the fitted weights do not allow for, so it is refused at start-up.
#: tests/bot/test_language_codes.py checks this list against the installed packages.
KNOWN_LANGUAGES = frozenset(
    """
    ar bg bs ca cs cy da de el en eo es et fa fi fr ga he hi hr hu hy id is it ka la lt
    lv mk ms nl nn pl pt ro ru sk sl sq sr sv sw tl tr uk hbs
    """.split()  # noqa: SIM905 (a word list reads better than 47 quoted strings)
)

#: Common mistakes in language lists, for the error message's fix.
_CODE_SUGGESTIONS = {
    "eng": "en", "ara": "ar", "slv": "sl", "slo": "sl", "deu": "de", "ger": "de",
    "hrv": "hr", "srp": "sr", "bos": "bs", "sh": "hbs", "sc": "hbs", "cz": "cs",
    "gr": "el", "dk": "da", "ua": "uk", "rs": "sr", "ba": "bs", "iw": "he", "fra": "fr",
    "spa": "es", "ita": "it", "rus": "ru", "tur": "tr",
}  # fmt: skip

LATIN = "LATIN"
#: Scripts a language is written in; languages not listed are written in Latin script.
LANGUAGE_SCRIPTS: Mapping[str, frozenset[str]] = {
    "ar": frozenset({"ARABIC"}),
    "fa": frozenset({"ARABIC"}),
    **{c: frozenset({"CYRILLIC"}) for c in ("ru", "uk", "bg", "mk")},
    "sr": frozenset({LATIN, "CYRILLIC"}),
    GROUP_CODE: frozenset({LATIN, "CYRILLIC"}),
    "el": frozenset({"GREEK"}),
    "he": frozenset({"HEBREW"}),
    "hy": frozenset({"ARMENIAN"}),
    "ka": frozenset({"GEORGIAN"}),
    "hi": frozenset({"DEVANAGARI"}),
}

_LOCALE_RE = re.compile(r"[A-Za-z]{2,3}(?=$|[-_.,;@\s])")


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
    return LANGUAGE_SCRIPTS.get(language, frozenset({LATIN}))


def check_language_codes(raw: Any, where: str) -> tuple[str, ...]:
    """Validate a list of codes; ValueError naming the key, the bad code and the list.

    The message ends with the supported codes because the usual fix is picking one of
    them; a known typo ("slo") is named first.
    """
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
            fix = f"did you mean '{hint}'? " if hint else ""
            raise ValueError(
                f"{where}: unsupported language code '{item}' ({fix}supported: "
                f"{', '.join(sorted(KNOWN_LANGUAGES))})"
            )
        if code not in codes:
            codes.append(code)
    return tuple(codes)

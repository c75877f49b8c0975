"""The sticky rule: a conversation keeps its language unless a message clearly changes it.

Pure (no state, no models) so the action server applies it to the tracker's history and
tests state it directly; the detector only describes one message.
"""

from __future__ import annotations

from collections.abc import Collection

from bot.language.codes import normalize_code, script_of
from bot.language.detector import Detection


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

"""Build the language-identification evaluation and fitting sets (bench/data/lid_*.tsv).

Run once by hand; the TSV files it writes are committed, so neither the benchmark nor
the tests need this script's extra dependency. It needs ``wordfreq==3.1.1`` (not part of
either project environment: install it into a throwaway virtual environment):

    uv venv /tmp/wf && uv pip install -p /tmp/wf/bin/python wordfreq==3.1.1
    /tmp/wf/bin/python bench/lid_data.py

Where each part comes from, and why it is kept apart from the detector's own data:

* Single words: wordfreq's frequency lists (Wikipedia, subtitles, web text, ...), not
  simplemma's dictionaries that the detector consults, so a test word is not picked from
  the detector's own vocabulary. A word goes in only if it is at least
  :data:`DISTINCT` times more frequent in its language than in any other configured
  language: "je" or "da" is everyday Slovenian *and* Croatian, and a single word that
  both use has no right answer. Croatian, Serbian and Bosnian share one wordfreq list
  ("sh", Latin script), scored as the group "hbs".
* Word pairs: one such distinctive word plus one word drawn by frequency (so often a
  function word shared with neighbours: "je", "na", "the"), in random order. They are
  not grammatical phrases; they are two-word messages with realistic ambiguity.
* Messages: the native NLU examples for en/ar/sl (data/nlu), the 280 older benchmark
  messages for hr/sr/bs/de (bench/data/lid_short.tsv) and 40 messages per language
  written for this benchmark for it/fr/es/ru/tr (bench/data/lid_written.tsv). None of
  them is in the fitting set.
* Halves: every word is assigned to the evaluation or the fitting half by a hash of the
  word itself, so no word (distinctive or not) appears on both sides. The fitting set
  (lid_fit.tsv) has words, pairs and 3-8 word sequences drawn by frequency from the
  fitting half, plus the hbs part again in Cyrillic (Serbian is written in both
  scripts; wordfreq holds it in Latin).
"""

from __future__ import annotations

import csv
import random
import re
import sys
import zlib
from pathlib import Path

import wordfreq

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
#: Configured languages (supportbot.yml) and their wordfreq list.
SOURCES = {
    "en": "en",
    "ar": "ar",
    "sl": "sl",
    "hbs": "sh",
    "de": "de",
    "it": "it",
    "fr": "fr",
    "es": "es",
    "ru": "ru",
    "tr": "tr",
}
#: How much more frequent a word must be in its language than in any other.
DISTINCT = 3.0
#: Words per list looked at.
TOP_N = 12000
EVAL_WORDS = 400
EVAL_PAIRS = 400
FIT_WORDS = 1200
FIT_PAIRS = 1200
FIT_SEQUENCES = 1200
SEED = 13
LETTERS = re.compile(r"^[^\W\d_]{2,}$")
_CYRILLIC = {
    "lj": "љ", "nj": "њ", "dž": "џ", "a": "а", "b": "б", "c": "ц", "č": "ч", "ć": "ћ",
    "d": "д", "đ": "ђ", "e": "е", "f": "ф", "g": "г", "h": "х", "i": "и", "j": "ј",
    "k": "к", "l": "л", "m": "м", "n": "н", "o": "о", "p": "п", "r": "р", "s": "с",
    "š": "ш", "t": "т", "u": "у", "v": "в", "z": "з", "ž": "ж",
}  # fmt: skip


def to_cyrillic(text: str) -> str:
    """Serbian Latin to Cyrillic (digraphs first); other characters unchanged."""
    out, i = [], 0
    while i < len(text):
        pair = text[i : i + 2]
        if pair in _CYRILLIC:
            out.append(_CYRILLIC[pair])
            i += 2
        else:
            out.append(_CYRILLIC.get(text[i], text[i]))
            i += 1
    return "".join(out)


def half(word: str) -> str:
    """The side a word belongs to, stable across runs and languages."""
    return "eval" if zlib.crc32(word.encode("utf-8")) % 2 == 0 else "fit"


def frequency_words(lang: str) -> list[tuple[str, float]]:
    source = SOURCES[lang]
    return [
        (w, wordfreq.word_frequency(w, source))
        for w in wordfreq.top_n_list(source, TOP_N)
        if LETTERS.match(w)
    ]


def distinctive(lang: str, words: list[tuple[str, float]]) -> list[str]:
    others = [SOURCES[o] for o in SOURCES if o != lang and SOURCES[o] != SOURCES[lang]]
    keep = []
    for word, freq in words:
        rival = max(wordfreq.word_frequency(word, o) for o in others)
        if freq >= DISTINCT * rival:
            keep.append(word)
    return keep


def pairs(rng: random.Random, anchors: list[str], pool, n: int) -> list[str]:
    words, weights = zip(*pool, strict=True)
    out: list[str] = []
    seen: set[str] = set()
    i = 0
    while len(out) < n and i < 20 * n:
        first = anchors[i % len(anchors)]
        second = rng.choices(words, weights)[0]
        i += 1
        if second == first:
            continue
        pair = f"{first} {second}" if rng.random() < 0.5 else f"{second} {first}"
        if pair not in seen:
            seen.add(pair)
            out.append(pair)
    return out


def sequences(rng: random.Random, pool, n: int) -> list[str]:
    words, weights = zip(*pool, strict=True)
    return [" ".join(rng.choices(words, weights, k=rng.randint(3, 8))) for _ in range(n)]


def nlu_messages(lang: str) -> list[str]:
    seen: dict[str, None] = {}
    for path in sorted((ROOT / "data" / "nlu" / lang).glob("*.yml")):
        for line in path.read_text(encoding="utf-8").splitlines():
            match = re.match(r"^\s+- (.+)$", line)
            if match and not line.lstrip().startswith("- intent"):
                seen[match.group(1).strip()] = None
    return list(seen)


def tsv_messages(path: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    with path.open(encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            lang = "hbs" if row["lang"] in ("hr", "sr", "bs") else row["lang"]
            out.setdefault(lang, []).append(row["text"])
    return out


def main() -> int:
    rng = random.Random(SEED)
    eval_rows: list[tuple[str, str, str]] = []
    fit_rows: list[tuple[str, str, str]] = []
    short = tsv_messages(DATA / "lid_short.tsv")
    written = tsv_messages(DATA / "lid_written.tsv")
    for lang in SOURCES:
        words = frequency_words(lang)
        distinct = distinctive(lang, words)
        split = {
            side: ([w for w in distinct if half(w) == side],
                   [(w, f) for w, f in words if half(w) == side])
            for side in ("eval", "fit")
        }  # fmt: skip
        anchors, pool = split["eval"]
        eval_rows += [(lang, "word", w) for w in anchors[:EVAL_WORDS]]
        eval_rows += [(lang, "pair", p) for p in pairs(rng, anchors, pool, EVAL_PAIRS)]
        if lang in ("en", "ar", "sl"):
            messages = nlu_messages(lang)
        else:
            messages = short.get(lang, []) + written.get(lang, [])
        eval_rows += [(lang, "message", m) for m in messages]

        anchors, pool = split["fit"]
        fit = [(lang, "word", w) for w in anchors[:FIT_WORDS]]
        fit += [(lang, "pair", p) for p in pairs(rng, anchors, pool, FIT_PAIRS)]
        fit += [(lang, "sequence", s) for s in sequences(rng, pool[:5000], FIT_SEQUENCES)]
        if lang == "hbs":
            fit += [(lang, kind, to_cyrillic(t)) for _, kind, t in fit[::2]]
        fit_rows += fit
        print(lang, len(anchors), "distinctive fitting words", file=sys.stderr)
    # The Cyrillic copies of hbs rows can spell a Russian evaluation word: drop any
    # fitting row that shares a text or a word with the evaluation words and pairs.
    eval_texts = {t for _, _, t in eval_rows}
    eval_words = {w for _, kind, t in eval_rows if kind != "message" for w in t.split()}
    fit_rows = [
        r for r in fit_rows if r[2] not in eval_texts and not set(r[2].split()) & eval_words
    ]
    for name, rows in (("lid_eval.tsv", eval_rows), ("lid_fit.tsv", fit_rows)):
        with (DATA / name).open("w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f, delimiter="\t", lineterminator="\n")
            writer.writerow(["lang", "kind", "text"])
            writer.writerows(rows)
    counts: dict[tuple[str, str], int] = {}
    for lang, kind, _ in eval_rows:
        counts[lang, kind] = counts.get((lang, kind), 0) + 1
    for (lang, kind), n in sorted(counts.items()):
        print(f"eval {lang:4} {kind:8} {n}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

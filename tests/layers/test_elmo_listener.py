"""spacy-lm-suite.ELMoListener.v1: each downstream component owns and learns its scalar mix."""

import numpy
import pytest
import spacy
import torch
from spacy.tokens import Doc
from spacy.training import Example
from thinc.api import Adam, fix_random_seed

from spacy_lm_suite.errors import UserError
from spacy_lm_suite.layers.elmo import torch_elmo
from spacy_lm_suite.layers.elmo_listener import ELMoListener, elmo_listener
from spacy_lm_suite.layers.scalar_mix import weights

NER_DATA = [
    ("Alice lives in Paris", [(0, 5, "PER"), (15, 20, "LOC")]),
    ("Bob visited London yesterday", [(0, 3, "PER"), (12, 18, "LOC")]),
]
CATS = [{"POS": 1.0, "NEG": 0.0}, {"POS": 0.0, "NEG": 1.0}]


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def listener_config(**settings):
    return {"@architectures": "spacy-lm-suite.ELMoListener.v1", "upstream": "*", **settings}


def make_nlp(*, textcat=False, grad=True, listener=None):
    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("lm_elmo", config={"model": {"preset": "tiny", "grad": grad}})
    nlp.add_pipe(
        "ner",
        config={
            "model": {
                "@architectures": "spacy.TransitionBasedParser.v2",
                "state_type": "ner",
                "hidden_width": 16,
                "maxout_pieces": 2,
                "use_upper": True,
                "tok2vec": listener_config(**(listener or {})),
            }
        },
    )
    if textcat:
        nlp.add_pipe(
            "textcat",
            config={
                "model": {
                    "@architectures": "spacy.TextCatReduce.v1",
                    "exclusive_classes": True,
                    "use_reduce_first": False,
                    "use_reduce_last": False,
                    "use_reduce_max": False,
                    "use_reduce_mean": True,
                    "tok2vec": listener_config(),
                }
            },
        )
    return nlp


def examples_for(nlp):
    examples = []
    for (text, ents), cats in zip(NER_DATA, CATS):
        examples.append(Example.from_dict(nlp.make_doc(text), {"entities": ents, "cats": cats}))
    return examples


def mix_of(nlp, component):
    (listener,) = [node for node in nlp.get_pipe(component).model.walk() if isinstance(node, ELMoListener)]
    return listener.layers[0]


def test_listeners_get_the_components_layer_shape():
    nlp = make_nlp(textcat=True)
    nlp.initialize(lambda: examples_for(nlp))
    assert nlp.get_pipe("lm_elmo").listening_components == ["ner", "textcat"]
    for component in ("ner", "textcat"):
        mix = mix_of(nlp, component)
        assert mix.get_dim("nL") == 3 and mix.get_dim("nO") == 32


def test_scalar_mix_gradients_reach_the_listeners_weights():
    nlp = make_nlp()
    examples = examples_for(nlp)
    optimizer = nlp.initialize(lambda: examples)
    nlp.update(examples, sgd=optimizer)  # the parser's output layer starts at zero: no gradient yet
    nlp.update(examples, sgd=False)  # no optimizer step: the gradients stay on the parameters
    mix = mix_of(nlp, "ner").shims[0].module
    assert float(mix.scalar_parameters.grad.abs().sum()) > 0
    assert float(mix.gamma.grad.abs()) > 0
    encoder = torch_elmo(nlp.get_pipe("lm_elmo").encoder)
    assert any(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in encoder.parameters())
    before = weights(mix_of(nlp, "ner"))[0]
    nlp.get_pipe("ner").finish_update(Adam(0.05))
    assert numpy.abs(weights(mix_of(nlp, "ner"))[0] - before).max() > 1e-4


def test_each_downstream_component_learns_its_own_mix():
    nlp = make_nlp(textcat=True)
    examples = examples_for(nlp)
    optimizer = nlp.initialize(lambda: examples)
    optimizer.learn_rate = 0.05
    for _ in range(5):
        nlp.update(examples, sgd=optimizer)
    ner_weights, _ = weights(mix_of(nlp, "ner"))
    textcat_weights, _ = weights(mix_of(nlp, "textcat"))
    assert numpy.abs(ner_weights - textcat_weights).max() > 1e-3
    own_weights, gamma = weights(nlp.get_pipe("lm_elmo").model.get_ref("mix"))
    numpy.testing.assert_allclose(own_weights, [1 / 3] * 3, atol=1e-6)  # doc.tensor: untrained mix


@pytest.mark.parametrize("annotates", [[], ["lm_elmo"]])
def test_a_frozen_upstream_still_feeds_its_listeners(annotates):
    """As spaCy's [training] frozen_components (and annotating_components) do."""
    nlp = make_nlp(grad=True)
    examples = examples_for(nlp)
    optimizer = nlp.initialize(lambda: examples)
    encoder = torch_elmo(nlp.get_pipe("lm_elmo").encoder)
    before = {name: value.clone() for name, value in encoder.state_dict().items()}
    mix_before = weights(mix_of(nlp, "ner"))[0]
    for _ in range(3):
        nlp.update(examples, sgd=optimizer, exclude=["lm_elmo"], annotates=annotates)
    assert all(torch.equal(value, before[name]) for name, value in encoder.state_dict().items())
    assert numpy.abs(weights(mix_of(nlp, "ner"))[0] - mix_before).max() > 0


def test_grad_false_freezes_the_encoder_but_not_the_mix():
    nlp = make_nlp(grad=False)
    examples = examples_for(nlp)
    optimizer = nlp.initialize(lambda: examples)
    encoder = torch_elmo(nlp.get_pipe("lm_elmo").encoder)
    before = {name: value.clone() for name, value in encoder.state_dict().items()}
    mix_before = weights(mix_of(nlp, "ner"))[0]
    for _ in range(3):
        nlp.update(examples, sgd=optimizer)
    assert all(torch.equal(value, before[name]) for name, value in encoder.state_dict().items())
    assert numpy.abs(weights(mix_of(nlp, "ner"))[0] - mix_before).max() > 0


def test_a_listener_width_that_does_not_match_is_a_clear_error():
    with pytest.raises(UserError, match="width = 7.*gives 32"):
        make_nlp(listener={"width": 7})


def test_an_unconnected_listener_is_a_clear_error():
    nlp = spacy.blank("en")
    listener = elmo_listener(width=32, n_layers=3)
    listener.initialize()
    with pytest.raises(UserError, match="not connected"):
        listener.predict([nlp("hello world")])
    with pytest.raises(UserError, match="initialize the upstream component"):
        elmo_listener().initialize()


def test_listener_output_is_the_mix_of_the_components_layers():
    nlp = make_nlp()
    nlp.initialize(lambda: examples_for(nlp))
    docs = [nlp.make_doc("Alice lives in Paris"), Doc(nlp.vocab, words=[])]
    (listener,) = nlp.get_pipe("lm_elmo").listeners
    layers = nlp.get_pipe("lm_elmo").predict(docs)
    s, gamma = weights(listener.layers[0])
    expected = [gamma * numpy.tensordot(s, x, axes=1) for x in layers]
    outputs = listener.predict(docs)
    assert [y.shape for y in outputs] == [(4, 32), (0, 32)]
    numpy.testing.assert_allclose(outputs[0], expected[0], atol=1e-6)

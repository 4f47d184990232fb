"""The scalar-mix Thinc layer: inference in bounded blocks equals the training path."""

import numpy
import pytest
import torch

from spacy_lm_suite.layers import scalar_mix
from spacy_lm_suite.layers.scalar_mix import ScalarMixLayer, _blocks


def test_blocks_cover_every_token_once():
    assert list(_blocks([3, 0, 10, 2], 4)) == [
        [(0, 0, 3), (2, 0, 1)], [(2, 1, 5)], [(2, 5, 9)], [(2, 9, 10), (3, 0, 2)]
    ]


@pytest.mark.parametrize("layer_norm", [False, True])
def test_prediction_equals_the_training_path(layer_norm, monkeypatch):
    monkeypatch.setattr(scalar_mix, "BLOCK_TOKENS", 5)
    rng = numpy.random.default_rng(0)
    layers = [rng.normal(size=(3, n, 4)).astype("float32") for n in (7, 0, 2, 12)]
    model = ScalarMixLayer(layer_norm=layer_norm)
    model.initialize(X=layers)
    mix = model.shims[0].module
    mix.scalar_parameters.data[:] = torch.tensor([0.5, -1.0, 0.2])
    predicted = model.predict(layers)
    trained, backprop = model.begin_update(layers)
    for a, b in zip(predicted, trained, strict=True):
        numpy.testing.assert_allclose(a, b, atol=1e-6)
    d_layers = backprop([numpy.ones_like(y) for y in trained])
    assert [d.shape for d in d_layers] == [x.shape for x in layers]


def test_layer_norm_uses_each_docs_own_statistics():
    rng = numpy.random.default_rng(0)
    layers = [rng.normal(size=(3, 6, 4)).astype("float32"), 10 + rng.normal(size=(3, 3, 4)).astype("float32")]
    model = ScalarMixLayer(layer_norm=True)
    model.initialize(X=layers)
    together = model.predict(layers)
    assert numpy.allclose(together[0], model.predict(layers[:1])[0], atol=1e-6)

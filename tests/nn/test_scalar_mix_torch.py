import pytest
import torch

from spacy_lm_suite.nn import ScalarMix


def test_default_mix_is_the_mean():
    layers = torch.randn(3, 2, 5, 4)
    mix = ScalarMix(n_layers=3)
    assert torch.allclose(mix(layers), layers.mean(0), atol=1e-6)


def test_weights_and_gamma():
    layers = torch.randn(2, 4, 3)
    mix = ScalarMix(n_layers=2, initial_scalar_parameters=[0.0, 1.0])
    with torch.no_grad():
        mix.gamma.fill_(2.0)
    weights = torch.softmax(torch.tensor([0.0, 1.0]), 0)
    assert torch.allclose(mix(layers), 2.0 * (weights[0] * layers[0] + weights[1] * layers[1]), atol=1e-6)


def test_gradients_reach_scalars_and_gamma():
    layers = torch.randn(3, 2, 4, requires_grad=True)
    mix = ScalarMix(n_layers=3)
    (mix(layers) * torch.randn(2, 4)).sum().backward()
    assert mix.scalar_parameters.grad is not None and mix.scalar_parameters.grad.abs().sum() > 0
    assert mix.gamma.grad is not None and mix.gamma.grad.abs() > 0
    assert layers.grad is not None
    # the softmax gradient sums to zero over layers
    assert abs(mix.scalar_parameters.grad.sum().item()) < 1e-5


def test_learns_to_pick_a_layer():
    torch.manual_seed(0)
    layers = torch.randn(3, 64, 8)
    target = layers[2] * 1.5
    mix = ScalarMix(n_layers=3)
    optimizer = torch.optim.Adam(mix.parameters(), lr=0.1)
    for _ in range(300):
        optimizer.zero_grad()
        loss = ((mix(layers) - target) ** 2).mean()
        loss.backward()
        optimizer.step()
    assert torch.softmax(mix.scalar_parameters, 0)[2] > 0.95
    assert abs(mix.gamma.item() - 1.5) < 0.1


def test_layer_norm_ignores_masked_positions():
    torch.manual_seed(0)
    layers = torch.randn(2, 2, 3, 4)
    mask = torch.tensor([[True, True, False], [True, False, False]])
    mix = ScalarMix(n_layers=2, do_layer_norm=True)
    out = mix(layers, mask)
    garbage = layers.clone()
    garbage[:, ~mask] = 1e6
    assert torch.allclose(mix(garbage, mask)[mask], out[mask], atol=1e-5)
    # each layer is normalised over the unmasked values
    values = layers[0][mask]
    normed = (values - values.mean()) / values.std(unbiased=False)
    only_first = ScalarMix(n_layers=2, do_layer_norm=True, initial_scalar_parameters=[100.0, 0.0])
    assert torch.allclose(only_first(layers, mask)[mask], normed, atol=1e-4)


def test_layer_norm_without_mask_and_errors():
    layers = torch.randn(2, 5, 4)
    out = ScalarMix(n_layers=2, do_layer_norm=True)(layers)
    assert out.shape == (5, 4)
    with pytest.raises(ValueError, match="expected 3 layers"):
        ScalarMix(n_layers=3)(layers)
    with pytest.raises(ValueError):
        ScalarMix(n_layers=2, initial_scalar_parameters=[1.0])


def test_not_trainable():
    mix = ScalarMix(n_layers=2, trainable=False)
    assert not any(p.requires_grad for p in mix.parameters())

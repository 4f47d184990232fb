"""A learned weighted sum of an encoder's layers (Peters et al. 2018, eq. 1)."""

from typing import Optional, Sequence

import torch
from torch import nn


class ScalarMix(nn.Module):
    """``γ · Σ_j softmax(s)_j · h_j`` over ``n_layers`` layers.

    Each downstream component owns one mix, so it learns its own weighting
    of the encoder's layers. With ``do_layer_norm``, each layer is first
    normalised by its mean and variance over the unmasked positions (one
    mean and variance per layer, as AllenNLP's ``ScalarMix``).

    n_layers: number of layers mixed (``L + 1`` for ELMo).
    initial_scalar_parameters: initial ``s`` (default zeros: a plain average).
    trainable: if False, ``s`` and ``γ`` stay fixed.
    """

    def __init__(
        self,
        *,
        n_layers: int,
        do_layer_norm: bool = False,
        initial_scalar_parameters: Optional[Sequence[float]] = None,
        trainable: bool = True,
    ) -> None:
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"n_layers must be at least 1, got {n_layers}")
        if initial_scalar_parameters is None:
            initial_scalar_parameters = [0.0] * n_layers
        if len(initial_scalar_parameters) != n_layers:
            raise ValueError(
                f"initial_scalar_parameters has {len(initial_scalar_parameters)} values, expected {n_layers}"
            )
        self.n_layers = n_layers
        self.do_layer_norm = do_layer_norm
        self.scalar_parameters = nn.Parameter(
            torch.tensor(list(initial_scalar_parameters), dtype=torch.float32), requires_grad=trainable
        )
        self.gamma = nn.Parameter(torch.tensor(1.0), requires_grad=trainable)

    def forward(self, layers: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """layers: ``[n_layers, ..., dim]``; mask: bool ``[...]`` (True = real
        position), used only by the layer norm. Returns ``[..., dim]``."""
        if layers.shape[0] != self.n_layers:
            raise ValueError(f"expected {self.n_layers} layers, got a tensor of shape {tuple(layers.shape)}")
        weights = torch.softmax(self.scalar_parameters, dim=0).to(layers.dtype)
        if self.do_layer_norm:
            layers = self._layer_norm(layers, mask)
        weights = weights.view(-1, *([1] * (layers.dim() - 1)))
        return self.gamma.to(layers.dtype) * (weights * layers).sum(0)

    @staticmethod
    def _layer_norm(layers: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
        dims = tuple(range(1, layers.dim()))
        if mask is None:
            mean = layers.mean(dim=dims, keepdim=True)
            variance = ((layers - mean) ** 2).mean(dim=dims, keepdim=True)
            return (layers - mean) / torch.sqrt(variance + 1e-12)
        weight = mask.to(layers.dtype).unsqueeze(-1).unsqueeze(0)  # [1, ..., 1]
        count = (weight.sum() * layers.shape[-1]).clamp(min=1.0)
        mean = (layers * weight).sum(dim=dims, keepdim=True) / count
        variance = (((layers - mean) * weight) ** 2).sum(dim=dims, keepdim=True) / count
        return (layers - mean) / torch.sqrt(variance + 1e-12)

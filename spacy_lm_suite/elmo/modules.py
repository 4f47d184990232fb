"""ELMo in PyTorch: character CNN, highway, LSTM with projection, the biLM.

Shapes: ``B`` sentences, ``T`` tokens (the longest sentence), ``C`` characters
per token, ``U`` distinct token types in a batch, ``P`` = ``proj_dim``,
``H`` = ``hidden_dim``, ``L`` = LSTM layers per direction.

The recurrent layers run on a *packed*, time-major layout (:class:`Packing`):
at step ``t`` only the sentences longer than ``t`` are computed, so padding
costs nothing and never changes a result. The backward direction reads each
sentence reversed within its own length, so both directions share one
packing and run together as a batch of two (one ``bmm`` per step).
"""

from collections import OrderedDict
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .characters import PAD_CHAR, boundary_char_ids
from .config import ELMoConfig


class Highway(nn.Module):
    """Highway layers with AllenNLP's convention (the gate carries the input).

    ``x ← g ⊙ x + (1 − g) ⊙ relu(W_h x + b_h)`` with ``g = σ(W_g x + b_g)``;
    each layer is one ``Linear(dim, 2 * dim)`` whose first half is the
    transform ``(W_h, b_h)`` and second half the gate ``(W_g, b_g)``. The gate
    bias starts at 1, so a fresh layer mostly carries its input.
    """

    def __init__(self, *, dim: int, n_layers: int) -> None:
        super().__init__()
        self.dim = dim
        self.layers = nn.ModuleList(nn.Linear(dim, 2 * dim) for _ in range(n_layers))
        with torch.no_grad():
            for layer in self.layers:
                layer.bias[dim:].fill_(1.0)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """inputs: ``[..., dim]`` -> ``[..., dim]``."""
        current = inputs
        for layer in self.layers:
            transform, gate = layer(current).chunk(2, dim=-1)
            gate = torch.sigmoid(gate)
            current = gate * current + (1.0 - gate) * torch.relu(transform)
        return current


class CharacterEncoder(nn.Module):
    """Context-free token vectors from character ids: CNN, highway, projection.

    Character embeddings ``[C, char_dim]`` go through one convolution per
    ``(width, n_filters)`` filter, max-pooled over positions, then the
    activation; the concatenation (``n_filters`` wide) goes through the
    highway layers and a linear projection to ``output_dim``.

    The result equals a full-width convolution over all ``C`` positions, but
    is computed only where it matters: types are sorted by length and, for
    each chunk, windows lying entirely in the padding (all equal to one
    constant per filter) are replaced by that constant.
    """

    def __init__(
        self,
        *,
        filters: Sequence[Tuple[int, int]],
        n_highway: int,
        output_dim: int,
        char_dim: int = 16,
        n_chars: int = 262,
        max_chars: int = 50,
        activation: str = "relu",
        chunk_size: int = 512,
    ) -> None:
        super().__init__()
        self.filters = [(int(width), int(count)) for width, count in filters]
        self.max_chars = max_chars
        self.activation = activation
        self.chunk_size = chunk_size
        n_filters = sum(count for _, count in self.filters)
        self.embedding = nn.Embedding(n_chars, char_dim, padding_idx=0)
        self.convs = nn.ModuleList(nn.Conv1d(char_dim, count, width) for width, count in self.filters)
        self.highway = Highway(dim=n_filters, n_layers=n_highway)
        self.projection = nn.Linear(n_filters, output_dim)

    @property
    def output_dim(self) -> int:
        return self.projection.out_features

    def forward(self, char_ids: torch.Tensor) -> torch.Tensor:
        """char_ids: LongTensor ``[n, C]`` -> ``[n, output_dim]``."""
        return self.projection(self.highway(self.convolve(char_ids)))

    def convolve(self, char_ids: torch.Tensor) -> torch.Tensor:
        """Max-pooled, activated CNN features: ``[n, C]`` -> ``[n, n_filters]``."""
        n, width_c = char_ids.shape
        if width_c != self.max_chars:
            raise ValueError(f"expected {self.max_chars} character ids per token, got {width_c}")
        n_filters = self.highway.dim
        if n == 0:
            return self.projection.weight.new_zeros((0, n_filters))
        # Length up to the last non-padding character (0 only for all-padding rows).
        positions = torch.arange(1, width_c + 1, device=char_ids.device)
        lengths = ((char_ids != PAD_CHAR) * positions).amax(dim=1)
        order = torch.argsort(lengths, stable=True)
        pad_embedding = self.embedding.weight[PAD_CHAR]
        kernels = []
        for conv in self.convs:
            width = conv.kernel_size[0]
            matrix = conv.weight.permute(2, 1, 0).reshape(-1, conv.out_channels)  # [width * char_dim, count]
            pad_window = torch.addmv(conv.bias, matrix.t(), pad_embedding.repeat(width))  # [count]
            kernels.append((width, matrix, conv.bias, pad_window))
        chunks = []
        for start in range(0, n, self.chunk_size):
            rows = order[start : start + self.chunk_size]
            chunk_lengths = lengths[rows]
            longest = max(int(chunk_lengths[-1]), 1)
            widest = min(width_c, longest + max(w for w, _ in self.filters) - 1)
            embedded = self.embedding(char_ids[rows, :widest])  # [m, widest, char_dim]
            features = []
            for width, matrix, bias, pad_window in kernels:
                span = min(width_c, longest + width - 1)
                windows = embedded[:, :span].unfold(1, width, 1)  # [m, n_windows, char_dim, width]
                n_windows = windows.shape[1]
                windows = windows.transpose(2, 3).reshape(len(rows) * n_windows, -1)
                pooled = torch.addmm(bias, windows, matrix).view(len(rows), n_windows, -1).amax(dim=1)
                has_pad_window = (chunk_lengths <= width_c - width).unsqueeze(1)
                features.append(torch.where(has_pad_window, torch.maximum(pooled, pad_window), pooled))
            chunks.append(torch.cat(features, dim=1))
        inverse = torch.empty_like(order)
        inverse[order] = torch.arange(n, device=order.device)
        pooled_all = torch.cat(chunks, dim=0)[inverse]
        return torch.relu(pooled_all) if self.activation == "relu" else torch.tanh(pooled_all)


@dataclass
class Packing:
    """Time-major packed layout of sentences with the given lengths.

    Packed row ``k`` belongs to step ``t`` (rows of step ``t`` are contiguous,
    ``batch_sizes[t]`` of them, longest sentences first).
    ``forward_index[k]`` is its flat position ``b * seq + t`` in the padded
    ``[batch, seq]`` grid; ``backward_index[k]`` is ``b * seq + (len_b - 1 - t)``,
    the position read at step ``t`` by the backward direction.
    """

    batch_sizes: List[int]
    forward_index: torch.Tensor  # LongTensor [N]
    backward_index: torch.Tensor  # LongTensor [N]
    batch: int
    seq: int

    @classmethod
    def from_lengths(cls, lengths: torch.Tensor, seq: int) -> "Packing":
        """lengths: LongTensor ``[batch]`` (each ``<= seq``)."""
        sorted_lengths, order = torch.sort(lengths, descending=True, stable=True)
        active = torch.arange(seq, device=lengths.device).unsqueeze(1) < sorted_lengths.unsqueeze(0)  # [seq, B]
        steps, ranks = active.nonzero(as_tuple=True)
        rows = order[ranks]
        batch_sizes = [size for size in active.sum(dim=1).tolist() if size > 0]
        return cls(
            batch_sizes=batch_sizes,
            forward_index=rows * seq + steps,
            backward_index=rows * seq + sorted_lengths[ranks] - 1 - steps,
            batch=int(lengths.shape[0]),
            seq=seq,
        )

    @classmethod
    def from_mask(cls, mask: torch.Tensor) -> "Packing":
        """mask: BoolTensor ``[batch, seq]``, True on a prefix of each row."""
        return cls.from_lengths(mask_lengths(mask), mask.shape[1])

    def unpack(self, packed: torch.Tensor, *, backward: bool = False) -> torch.Tensor:
        """packed: ``[N, F]`` -> padded ``[batch, seq, F]`` (zeros at padding)."""
        index = self.backward_index if backward else self.forward_index
        flat = packed.new_zeros((self.batch * self.seq, packed.shape[-1])).index_copy(0, index, packed)
        return flat.view(self.batch, self.seq, -1)


def mask_lengths(mask: torch.Tensor) -> torch.Tensor:
    """Lengths ``[batch]`` of a prefix mask ``[batch, seq]``; raises ``ValueError``
    if some row has a padded position before a real one."""
    lengths = mask.sum(dim=1)
    prefix = torch.arange(mask.shape[1], device=mask.device).unsqueeze(0) < lengths.unsqueeze(1)
    if not torch.equal(prefix, mask.bool()):
        raise ValueError("mask must be True on a prefix of each row (padding only at the end)")
    return lengths


def _gate_order(hidden_dim: int, device: torch.device) -> torch.Tensor:
    """Row permutation from torch's gate order (i, f, g, o) to (i, f, o, g)."""
    h = hidden_dim
    return torch.cat(
        [torch.arange(0, 2 * h), torch.arange(3 * h, 4 * h), torch.arange(2 * h, 3 * h)]
    ).to(device)


def _lstmp_scan(
    *,
    batch_sizes: List[int],
    gate_table: Optional[torch.Tensor],
    gate_index: Optional[torch.Tensor],
    input_gates: Optional[torch.Tensor],
    weight_hh: torch.Tensor,
    weight_proj: torch.Tensor,
    cell_clip: Optional[float],
    proj_clip: Optional[float],
) -> torch.Tensor:
    """The LSTMP recurrence over a packing, for ``D`` independent directions.

    The input part of the gates (``W_ih x + b``, gate order i, f, o, g) is
    either ``input_gates`` ``[D, N, 4H]`` or rows of ``gate_table``
    ``[D * U, 4H]`` chosen by ``gate_index`` ``[D, N]`` (one table row per
    token type, for the first layer). weight_hh: ``[D, P, 4H]``;
    weight_proj: ``[D, H, P]``. Returns the packed outputs ``[D, N, P]``.
    """
    directions, proj_dim, four_h = weight_hh.shape
    h = four_h // 4
    if not batch_sizes:
        return weight_hh.new_zeros((directions, 0, proj_dim))
    hidden = weight_hh.new_zeros((directions, batch_sizes[0], proj_dim))
    cell = weight_hh.new_zeros((directions, batch_sizes[0], h))
    outputs = []
    offset = 0
    for size in batch_sizes:
        if gate_table is not None:
            assert gate_index is not None
            rows = gate_index[:, offset : offset + size].reshape(-1)
            gates = gate_table.index_select(0, rows).view(directions, size, four_h)
            gates = gates.baddbmm_(hidden[:, :size], weight_hh)
        else:
            assert input_gates is not None
            gates = torch.baddbmm(input_gates[:, offset : offset + size], hidden[:, :size], weight_hh)
        offset += size
        sigmoids = torch.sigmoid(gates[..., : 3 * h])
        candidate = torch.tanh(gates[..., 3 * h :])
        cell = torch.addcmul(sigmoids[..., h : 2 * h] * cell[:, :size], sigmoids[..., :h], candidate)
        if cell_clip is not None:
            cell = cell.clamp(-cell_clip, cell_clip)
        hidden = torch.bmm(sigmoids[..., 2 * h :] * torch.tanh(cell), weight_proj)
        if proj_clip is not None:
            hidden = hidden.clamp(-proj_clip, proj_clip)
        outputs.append(hidden)
    return torch.cat(outputs, dim=1)


def _lstmp_step_(
    gates: torch.Tensor,
    cell: torch.Tensor,
    squash: torch.Tensor,
    weight_proj: torch.Tensor,
    cell_clip: Optional[float],
    proj_clip: Optional[float],
) -> torch.Tensor:
    """One LSTMP step in place (no autograd).

    gates: ``[D, n, 4H]`` in the order (i, f, o, 2g): the candidate's
    pre-activation comes doubled, so that one sigmoid pass serves all four
    gates and ``tanh(g) = 2σ(2g) − 1`` (likewise for ``tanh(c)``): on a CPU,
    ``tanh`` costs several times a ``sigmoid``, and the difference from the
    exact formula is a few float32 ulps. cell: ``[D, n, H]``, updated in
    place; squash: a ``[D, n, H]`` scratch buffer. Returns the new output
    ``[D, n, P]``.
    """
    h = cell.shape[-1]
    sigmoids = gates.sigmoid_()
    in_gate, forget_gate, out_gate, candidate = sigmoids.split(h, dim=-1)
    cell.mul_(forget_gate).addcmul_(in_gate, candidate, value=2.0).sub_(in_gate)
    if cell_clip is not None:
        cell.clamp_(-cell_clip, cell_clip)
    torch.mul(cell, 2.0, out=squash).sigmoid_().mul_(out_gate).mul_(2.0).sub_(out_gate)
    hidden = torch.bmm(squash, weight_proj)
    if proj_clip is not None:
        hidden.clamp_(-proj_clip, proj_clip)
    return hidden


class LSTMPLayer(nn.Module):
    """One direction of one layer: an LSTM with a projected output (LSTMP).

    ``[i, f, g, o] = W_ih x_t + W_hh h_{t-1} + b`` (torch.nn.LSTM's gate order),
    ``c_t = σ(f) ⊙ c_{t-1} + σ(i) ⊙ tanh(g)`` clipped to ``±cell_clip``,
    ``h_t = W_proj (σ(o) ⊙ tanh c_t)`` clipped to ``±proj_clip``; the state
    starts at zero for every sentence (no state is carried between batches).

    Parameters: ``weight_ih [4H, input_dim]``, ``weight_hh [4H, P]``,
    ``bias [4H]``, ``weight_proj [P, H]``.
    """

    def __init__(
        self,
        *,
        input_dim: int,
        hidden_dim: int,
        proj_dim: int,
        cell_clip: Optional[float] = None,
        proj_clip: Optional[float] = None,
    ) -> None:
        super().__init__()
        self.input_dim = input_dim
        self.hidden_dim = hidden_dim
        self.proj_dim = proj_dim
        self.cell_clip = cell_clip
        self.proj_clip = proj_clip
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_dim, input_dim))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_dim, proj_dim))
        self.bias = nn.Parameter(torch.empty(4 * hidden_dim))
        self.weight_proj = nn.Parameter(torch.empty(proj_dim, hidden_dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Uniform ``±1/sqrt(H)`` as torch.nn.LSTM, and forget-gate bias 1."""
        bound = self.hidden_dim**-0.5
        with torch.no_grad():
            for weight in (self.weight_ih, self.weight_hh, self.weight_proj):
                weight.uniform_(-bound, bound)
            self.bias.zero_()
            self.bias[self.hidden_dim : 2 * self.hidden_dim].fill_(1.0)

    def reordered(self) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(W_ih^T [in, 4H], b [4H], W_hh^T [P, 4H], W_proj^T [H, P])`` with
        the gates in the (i, f, o, g) order used by the recurrence."""
        order = _gate_order(self.hidden_dim, self.bias.device)
        return (
            self.weight_ih.index_select(0, order).t(),
            self.bias.index_select(0, order),
            self.weight_hh.index_select(0, order).t(),
            self.weight_proj.t(),
        )

    def forward(self, inputs: torch.Tensor, mask: torch.Tensor, *, reverse: bool = False) -> torch.Tensor:
        """inputs: ``[B, T, input_dim]``; mask: bool ``[B, T]`` (prefix).
        Returns ``[B, T, P]`` (zeros at padding). ``reverse`` reads each
        sentence from its last token to its first."""
        packing = Packing.from_mask(mask)
        w_ih, bias, w_hh, w_proj = self.reordered()
        index = packing.backward_index if reverse else packing.forward_index
        x = inputs.reshape(-1, inputs.shape[-1]).index_select(0, index)
        outputs = _lstmp_scan(
            batch_sizes=packing.batch_sizes,
            gate_table=None,
            gate_index=None,
            input_gates=torch.addmm(bias, x, w_ih).unsqueeze(0),
            weight_hh=w_hh.unsqueeze(0),
            weight_proj=w_proj.unsqueeze(0),
            cell_clip=self.cell_clip,
            proj_clip=self.proj_clip,
        )
        return packing.unpack(outputs[0], backward=reverse)


class BiLSTMStack(nn.Module):
    """Forward and backward LSTMP stacks (separate weights per direction).

    Layer ``l > 0`` reads the output of layer ``l - 1`` of its own direction;
    with ``residual``, its input is added to its output. Dropout (in
    training) applies to every layer's input.
    """

    def __init__(
        self,
        *,
        input_dim: int,
        hidden_dim: int,
        proj_dim: int,
        n_layers: int,
        residual: bool = True,
        cell_clip: Optional[float] = None,
        proj_clip: Optional[float] = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.n_layers = n_layers
        self.proj_dim = proj_dim
        self.residual = residual
        self.dropout = dropout

        def layer(index: int) -> LSTMPLayer:
            return LSTMPLayer(
                input_dim=input_dim if index == 0 else proj_dim,
                hidden_dim=hidden_dim,
                proj_dim=proj_dim,
                cell_clip=cell_clip,
                proj_clip=proj_clip,
            )

        self.forward_layers = nn.ModuleList(layer(i) for i in range(n_layers))
        self.backward_layers = nn.ModuleList(layer(i) for i in range(n_layers))

    def forward(self, inputs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """inputs: ``[B, T, input_dim]``; mask: bool ``[B, T]`` (prefix).
        Returns ``[n_layers, B, T, 2P]`` (forward then backward; zeros at padding)."""
        packing = Packing.from_mask(mask)
        index = torch.stack([packing.forward_index, packing.backward_index])
        layers = self.run_packed(inputs.reshape(-1, inputs.shape[-1]), index, packing.batch_sizes)
        return torch.stack(
            [
                torch.cat([packing.unpack(out[0]), packing.unpack(out[1], backward=True)], dim=-1)
                for out in layers
            ]
        )

    def run_packed(
        self, type_inputs: torch.Tensor, type_index: torch.Tensor, batch_sizes: List[int]
    ) -> List[torch.Tensor]:
        """Run both directions over a packing.

        type_inputs: ``[U, input_dim]``, the distinct inputs; type_index:
        LongTensor ``[2, N]``, the row of ``type_inputs`` read by each packed
        row (forward, backward). Returns one ``[2, N, P]`` tensor per layer.

        Without dropout, the first layer's input gates are computed once per
        row of ``type_inputs`` (so once per token type).
        """
        n_types = type_inputs.shape[0]
        drop = self.dropout if self.training else 0.0
        if not torch.is_grad_enabled() and drop == 0.0:
            return self._run_packed_inference(type_inputs, type_index, batch_sizes)
        outputs: List[torch.Tensor] = []
        for depth, (fwd, bwd) in enumerate(zip(self.forward_layers, self.backward_layers)):
            (wf_ih, bf, wf_hh, wf_proj), (wb_ih, bb, wb_hh, wb_proj) = fwd.reordered(), bwd.reordered()
            w_hh = torch.stack([wf_hh, wb_hh])
            w_proj = torch.stack([wf_proj, wb_proj])
            gate_table = gate_index = input_gates = None
            if depth == 0 and drop == 0.0:
                gate_table = torch.cat([torch.addmm(bf, type_inputs, wf_ih), torch.addmm(bb, type_inputs, wb_ih)])
                gate_index = type_index + torch.tensor([[0], [n_types]], device=type_index.device)
                layer_inputs = None
            else:
                if depth == 0:
                    layer_inputs = type_inputs[type_index]  # [2, N, input_dim]
                else:
                    layer_inputs = outputs[-1]
                dropped = F.dropout(layer_inputs, drop, training=True) if drop else layer_inputs
                input_gates = torch.baddbmm(torch.stack([bf, bb]).unsqueeze(1), dropped, torch.stack([wf_ih, wb_ih]))
            output = _lstmp_scan(
                batch_sizes=batch_sizes,
                gate_table=gate_table,
                gate_index=gate_index,
                input_gates=input_gates,
                weight_hh=w_hh,
                weight_proj=w_proj,
                cell_clip=fwd.cell_clip,
                proj_clip=fwd.proj_clip,
            )
            if depth > 0 and self.residual:
                output = output + outputs[-1]
            outputs.append(output)
        return outputs

    def _run_packed_inference(
        self, type_inputs: torch.Tensor, type_index: torch.Tensor, batch_sizes: List[int]
    ) -> List[torch.Tensor]:
        """:meth:`run_packed` without autograd: all layers advance together,
        one time step at a time, with in-place gate arithmetic in buffers
        allocated once. A layer above the first reads ``[x_t, h_{t-1}]``
        through one ``[2P, 4H]`` matrix."""
        directions = 2
        n_types, in_dim = type_inputs.shape
        hidden_dim = self.forward_layers[0].hidden_dim
        cell_clip, proj_clip = self.forward_layers[0].cell_clip, self.forward_layers[0].proj_clip
        if not batch_sizes:
            return [type_inputs.new_zeros((directions, 0, self.proj_dim)) for _ in range(self.n_layers)]
        params = []
        for fwd, bwd in zip(self.forward_layers, self.backward_layers):
            (wf_ih, bf, wf_hh, wf_proj), (wb_ih, bb, wb_hh, wb_proj) = fwd.reordered(), bwd.reordered()
            # double the candidate gate's pre-activation (see _lstmp_step_)
            scale = torch.ones_like(bf)
            scale[3 * hidden_dim :] = 2.0
            wf_ih, bf, wf_hh, wb_ih, bb, wb_hh = (w * scale for w in (wf_ih, bf, wf_hh, wb_ih, bb, wb_hh))
            params.append(
                (
                    torch.stack([torch.cat([wf_ih, wf_hh]), torch.cat([wb_ih, wb_hh])]),  # [2, in + P, 4H]
                    torch.stack([bf, bb]).unsqueeze(1),  # [2, 1, 4H]
                    torch.stack([wf_proj, wb_proj]),  # [2, H, P]
                )
            )
        w0, b0, _ = params[0]
        gate_table = torch.cat(
            [torch.addmm(b0[0, 0], type_inputs, w0[0, :in_dim]), torch.addmm(b0[1, 0], type_inputs, w0[1, :in_dim])]
        )  # [2U, 4H]
        w0_hh = w0[:, in_dim:]  # [2, P, 4H]
        gate_index = type_index + torch.tensor([[0], [n_types]], device=type_index.device)
        width = batch_sizes[0]
        new = type_inputs.new_zeros
        hiddens = [new((directions, width, self.proj_dim)) for _ in params]
        cells = [new((directions, width, hidden_dim)) for _ in params]
        gate_buffer = type_inputs.new_empty(directions * width * 4 * hidden_dim)
        squash_buffer = type_inputs.new_empty(directions * width * hidden_dim)
        concat_buffer = type_inputs.new_empty(directions * width * 2 * self.proj_dim)
        outputs: List[List[torch.Tensor]] = [[] for _ in params]
        offset = 0
        for size in batch_sizes:
            rows = gate_index[:, offset : offset + size].reshape(-1)
            offset += size
            gates = gate_buffer[: directions * size * 4 * hidden_dim].view(directions * size, -1)
            gates = torch.index_select(gate_table, 0, rows, out=gates).view(directions, size, -1)
            gates.baddbmm_(hiddens[0][:, :size], w0_hh)
            squash = squash_buffer[: directions * size * hidden_dim].view(directions, size, hidden_dim)
            x = _lstmp_step_(gates, cells[0][:, :size], squash, params[0][2], cell_clip, proj_clip)
            hiddens[0] = x
            outputs[0].append(x)
            for depth in range(1, len(params)):
                w_cat, bias, w_proj = params[depth]
                concat = concat_buffer[: directions * size * 2 * self.proj_dim].view(directions, size, -1)
                torch.cat([x, hiddens[depth][:, :size]], dim=-1, out=concat)
                gates = gate_buffer[: directions * size * 4 * hidden_dim].view(directions, size, -1)
                torch.baddbmm(bias, concat, w_cat, out=gates)
                hidden = _lstmp_step_(gates, cells[depth][:, :size], squash, w_proj, cell_clip, proj_clip)
                hiddens[depth] = hidden
                x = hidden + x if self.residual else hidden
                outputs[depth].append(x)
        return [torch.cat(layer, dim=1) for layer in outputs]


@dataclass
class BiLMStates:
    """Everything the biLM computed for a batch, before unpacking.

    Sentences are wrapped in ``<S> ... </S>``, so the packing is over a
    ``[B, T + 2]`` grid with lengths ``n_b + 2``.
    """

    packing: Packing
    token_vectors: torch.Tensor  # [U + 2, P]; rows U and U + 1 are <S> and </S>
    lengths: torch.Tensor  # LongTensor [B]: sentence lengths without boundaries
    layers: List[torch.Tensor]  # per LSTM layer, [2, N, P] packed (forward, backward)


class _TypeCache:
    """A bounded LRU cache of context-free token vectors, keyed by character ids.

    It is cleared whenever a parameter of the encoder changes (in place, as
    an optimizer step or ``load_state_dict`` does, or by replacement).
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.slots: "OrderedDict[bytes, int]" = OrderedDict()
        self.vectors: Optional[torch.Tensor] = None
        self.version: Optional[Tuple] = None

    def clear(self) -> None:
        self.slots.clear()
        self.vectors = None

    def _reserve(self, rows: int, like: torch.Tensor) -> None:
        """Grow the vector store (by doubling, up to ``size`` rows) to hold ``rows``."""
        capacity = 0 if self.vectors is None else self.vectors.shape[0]
        if rows <= capacity:
            return
        grown = like.new_empty((min(self.size, max(rows, 2 * capacity, 1024)), like.shape[1]))
        if self.vectors is not None:
            grown[:capacity] = self.vectors
        self.vectors = grown

    def encode(self, encoder: CharacterEncoder, char_ids: torch.Tensor) -> torch.Tensor:
        version = tuple((p.data_ptr(), p._version, p.dtype) for p in encoder.parameters())
        if version != self.version:
            self.clear()
            self.version = version
        keys = char_ids.to(torch.int16).cpu().numpy()
        keys = [row.tobytes() for row in keys]
        hit_rows, hit_slots, miss_rows = [], [], []
        for row, key in enumerate(keys):
            slot = self.slots.get(key)
            if slot is None:
                miss_rows.append(row)
            else:
                self.slots.move_to_end(key)
                hit_rows.append(row)
                hit_slots.append(slot)
        if not hit_rows:
            result = encoder(char_ids)
            missed = result
        else:
            result = encoder.projection.weight.new_empty((len(keys), encoder.output_dim))
            device = char_ids.device
            assert self.vectors is not None
            result[torch.tensor(hit_rows, device=device)] = self.vectors[torch.tensor(hit_slots, device=device)]
            missed = encoder(char_ids[torch.tensor(miss_rows, device=device)]) if miss_rows else None
            if missed is not None:
                result[torch.tensor(miss_rows, device=device)] = missed
        if missed is not None and self.size > 0:
            self._reserve(min(self.size, len(self.slots) + len(missed)), missed)
            rows = miss_rows if hit_rows else range(len(keys))
            new_slots = []
            for position, row in enumerate(rows):
                if len(new_slots) >= self.size:
                    break
                if keys[row] in self.slots:  # the same characters twice (e.g. truncated long tokens)
                    continue
                if len(self.slots) >= self.size:
                    _, slot = self.slots.popitem(last=False)
                else:
                    slot = len(self.slots)
                self.slots[keys[row]] = slot
                new_slots.append((position, slot))
            if new_slots:
                positions = torch.tensor([p for p, _ in new_slots], device=missed.device)
                slots = torch.tensor([s for _, s in new_slots], device=missed.device)
                self.vectors[slots] = missed[positions]
        return result


class ELMo(nn.Module):
    """The ELMo encoder: character CNN + bidirectional LSTMP language model.

    ``forward`` returns all ``L + 1`` layers: layer 0 is the context-free
    token vector (duplicated for both directions), layer ``j`` is the
    concatenation of the forward and backward LSTM outputs of layer ``j``.
    Every sentence is wrapped in ``<S> ... </S>`` internally (as in
    pretraining); their vectors are not returned. Inference is stateless:
    a sentence gets the same vectors alone or in any padded batch.

    cache_size: LRU cache of context-free vectors for this many token types,
        used only when no gradient is recorded and the module is in eval
        mode (0 disables it). Results equal the uncached computation.
    """

    def __init__(self, config: ELMoConfig, *, cache_size: int = 50_000) -> None:
        super().__init__()
        self.config = config
        self.char_encoder = CharacterEncoder(
            filters=config.filters,
            n_highway=config.n_highway,
            output_dim=config.proj_dim,
            char_dim=config.char_dim,
            n_chars=config.n_chars,
            max_chars=config.max_chars,
            activation=config.activation,
        )
        self.lstm = BiLSTMStack(
            input_dim=config.proj_dim,
            hidden_dim=config.hidden_dim,
            proj_dim=config.proj_dim,
            n_layers=config.n_layers,
            residual=config.residual,
            cell_clip=config.cell_clip,
            proj_clip=config.proj_clip,
            dropout=config.dropout,
        )
        self.register_buffer("boundary_char_ids", boundary_char_ids(config.max_chars), persistent=False)
        self._type_cache = _TypeCache(cache_size)

    @property
    def output_dim(self) -> int:
        """Width of each returned layer (``2 * proj_dim``)."""
        return self.config.output_dim

    @property
    def n_output_layers(self) -> int:
        """Number of returned layers (``n_layers + 1``)."""
        return self.config.n_layers + 1

    @property
    def cache_size(self) -> int:
        return self._type_cache.size

    @cache_size.setter
    def cache_size(self, size: int) -> None:
        self._type_cache = _TypeCache(size)

    def encode_types(self, char_ids: torch.Tensor) -> torch.Tensor:
        """Context-free vectors of distinct token types: ``[U, C]`` -> ``[U, P]``."""
        if self._type_cache.size > 0 and not self.training and not torch.is_grad_enabled():
            return self._type_cache.encode(self.char_encoder, char_ids)
        return self.char_encoder(char_ids)

    def forward(self, char_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """char_ids: LongTensor ``[B, T, C]`` (see :func:`batch_to_char_ids`);
        mask: BoolTensor ``[B, T]``, True on a prefix of each row.
        Returns ``[L + 1, B, T, 2P]``, zeros at padded positions.

        The character CNN runs once per distinct token in the batch.
        """
        mask = mask.bool()
        tokens = char_ids[mask]  # [n, C]
        if tokens.shape[0] == 0:
            type_char_ids = char_ids.new_zeros((0, char_ids.shape[-1]))
            inverse = tokens.new_zeros((0,))
        else:
            type_char_ids, inverse = torch.unique(tokens, dim=0, return_inverse=True)
        type_index = torch.zeros(mask.shape, dtype=torch.long, device=mask.device)
        type_index[mask] = inverse
        return self.forward_types(type_char_ids, type_index, mask)

    def forward_types(self, type_char_ids: torch.Tensor, type_index: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """As :meth:`forward`, from deduplicated input (:func:`batch_to_type_ids`):
        type_char_ids ``[U, C]``, type_index ``[B, T]`` (rows of ``type_char_ids``),
        mask ``[B, T]``. Returns ``[L + 1, B, T, 2P]``."""
        mask = mask.bool()
        batch, seq = mask.shape
        proj = self.config.proj_dim
        if batch == 0 or seq == 0:
            return self.lstm.forward_layers[0].weight_ih.new_zeros((self.n_output_layers, batch, seq, 2 * proj))
        states = self.bilm_states(type_char_ids, type_index, mask)
        packing = states.packing
        dest_f, rows_f = self._token_rows(packing.forward_index, states.lengths, seq)
        dest_b, rows_b = self._token_rows(packing.backward_index, states.lengths, seq)
        if not torch.is_grad_enabled():  # write every layer in place into one output tensor
            out = states.token_vectors.new_zeros((self.n_output_layers, batch * seq, 2 * proj))
            positions = mask.view(-1).nonzero(as_tuple=True)[0]
            tokens = states.token_vectors.index_select(0, type_index.reshape(-1).index_select(0, positions))
            out[0].index_copy_(0, positions, torch.cat([tokens, tokens], dim=-1))
            for depth, packed in enumerate(states.layers, start=1):
                out[depth, :, :proj].index_copy_(0, dest_f, packed[0].index_select(0, rows_f))
                out[depth, :, proj:].index_copy_(0, dest_b, packed[1].index_select(0, rows_b))
            return out.view(self.n_output_layers, batch, seq, 2 * proj)
        tokens = states.token_vectors[type_index] * mask.unsqueeze(-1)  # [B, T, P]
        layers = [torch.cat([tokens, tokens], dim=-1)]
        for packed in states.layers:
            flat = packed.new_zeros((batch * seq, 2 * proj))
            forward = flat[:, :proj].index_copy(0, dest_f, packed[0].index_select(0, rows_f))
            backward = flat[:, proj:].index_copy(0, dest_b, packed[1].index_select(0, rows_b))
            layers.append(torch.cat([forward, backward], dim=-1).view(batch, seq, 2 * proj))
        return torch.stack(layers)

    @staticmethod
    def _token_rows(grid_index: torch.Tensor, lengths: torch.Tensor, seq: int) -> Tuple[torch.Tensor, torch.Tensor]:
        """Packed rows at real tokens (not ``<S>``/``</S>``) and their flat
        position ``b * seq + t`` in the ``[B, T]`` output."""
        grid_seq = seq + 2
        b = grid_index // grid_seq
        t = grid_index % grid_seq
        keep = (t >= 1) & (t <= lengths[b])
        rows = keep.nonzero(as_tuple=True)[0]
        return b[rows] * seq + t[rows] - 1, rows

    def bilm_states(self, type_char_ids: torch.Tensor, type_index: torch.Tensor, mask: torch.Tensor) -> BiLMStates:
        """Run the character encoder and both LSTM stacks (used by :meth:`forward_types`
        and by the pretraining loss). Shapes as in :meth:`forward_types`."""
        mask = mask.bool()
        batch, seq = mask.shape
        n_types = type_char_ids.shape[0]
        lengths = mask_lengths(mask)
        token_vectors = self.encode_types(torch.cat([type_char_ids, self.boundary_char_ids]))  # [U + 2, P]
        grid = torch.full((batch, seq + 2), n_types + 1, dtype=torch.long, device=mask.device)
        grid[:, 0] = n_types
        grid[:, 1 : seq + 1] = torch.where(mask, type_index, n_types + 1)
        packing = Packing.from_lengths(lengths + 2, seq + 2)
        flat = grid.view(-1)
        index = torch.stack([flat[packing.forward_index], flat[packing.backward_index]])
        layers = self.lstm.run_packed(token_vectors, index, packing.batch_sizes)
        return BiLMStates(packing=packing, token_vectors=token_vectors, lengths=lengths, layers=layers)


class BiLMHead(nn.Module):
    """Adaptive softmax (Grave et al. 2017) over the word vocabulary, shared by
    both directions. The vocabulary must be sorted by decreasing frequency.

    cutoffs: cluster boundaries (default: those of 2000 and 10000 that are
        below ``vocab_size - 1``, or ``vocab_size // 2`` for tiny vocabularies).
    """

    def __init__(
        self, *, input_dim: int, vocab_size: int, cutoffs: Optional[Sequence[int]] = None, div_value: float = 4.0
    ) -> None:
        super().__init__()
        if vocab_size < 4:
            raise ValueError(f"vocab_size must be at least 4, got {vocab_size}")
        if cutoffs is None:
            cutoffs = default_cutoffs(vocab_size)
        self.vocab_size = vocab_size
        self.cutoffs = list(cutoffs)
        self.div_value = div_value
        self.softmax = nn.AdaptiveLogSoftmaxWithLoss(input_dim, vocab_size, self.cutoffs, div_value=div_value)

    def forward(self, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """hidden ``[N, P]``, targets LongTensor ``[N]`` -> summed negative log-likelihood (scalar)."""
        if hidden.shape[0] == 0:
            return hidden.sum() * 0.0
        return -self.softmax(hidden, targets).output.sum()

    def log_prob(self, hidden: torch.Tensor) -> torch.Tensor:
        """Log-probabilities of the whole vocabulary: ``[N, P]`` -> ``[N, vocab_size]``."""
        return self.softmax.log_prob(hidden)


def default_cutoffs(vocab_size: int) -> List[int]:
    cutoffs = [c for c in (2000, 10000) if c < vocab_size - 1]
    return cutoffs or [vocab_size // 2]


class BiLanguageModel(nn.Module):
    """ELMo plus its softmax: the pretraining model.

    The forward LM reads ``<S> w_1 .. w_n`` and predicts ``w_1 .. w_n </S>``;
    the backward LM reads ``w_n .. w_1 </S>``-first and predicts ``w_n .. w_1 <S>``.
    """

    def __init__(self, elmo: ELMo, head: BiLMHead, *, bos_id: int, eos_id: int) -> None:
        super().__init__()
        self.elmo = elmo
        self.head = head
        self.bos_id = bos_id
        self.eos_id = eos_id

    def forward(
        self, type_char_ids: torch.Tensor, type_index: torch.Tensor, mask: torch.Tensor, word_ids: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """word_ids: LongTensor ``[B, T]`` (vocabulary ids of the tokens).
        Returns ``(loss, nll)``: the mean negative log-likelihood per
        prediction averaged over both directions (to optimise), and a
        detached ``[3]`` tensor (forward NLL sum, backward NLL sum, number
        of predictions per direction)."""
        states = self.elmo.bilm_states(type_char_ids, type_index, mask)
        batch, seq = mask.shape
        grid_seq = seq + 2
        targets = torch.full((batch, grid_seq), -1, dtype=torch.long, device=mask.device)
        targets[:, 0] = self.bos_id
        targets[:, 1 : seq + 1] = torch.where(mask.bool(), word_ids, -1)
        targets[torch.arange(batch, device=mask.device), states.lengths + 1] = self.eos_id
        lengths = states.lengths + 2
        drop = self.elmo.config.dropout if self.training else 0.0
        top = states.layers[-1]
        losses = []
        for direction, (index, step) in enumerate(
            ((states.packing.forward_index, 1), (states.packing.backward_index, -1))
        ):
            b = index // grid_seq
            t = index % grid_seq
            valid = (t + step >= 0) & (t + step < lengths[b])
            rows = valid.nonzero(as_tuple=True)[0]
            hidden = top[direction].index_select(0, rows)
            if drop:
                hidden = F.dropout(hidden, drop, training=True)
            target = targets.view(-1)[index[rows] + step]
            losses.append(self.head(hidden, target))
        count = (states.lengths + 1).sum()
        loss = (losses[0] + losses[1]) / (2 * count.clamp(min=1))
        return loss, torch.stack([losses[0].detach(), losses[1].detach(), count.to(losses[0].dtype)])

import pytest
import torch

from spacy_lm_suite.elmo.characters import batch_to_char_ids, batch_to_type_ids, boundary_char_ids
from spacy_lm_suite.elmo.config import ELMoConfig
from spacy_lm_suite.elmo.modules import (
    BiLanguageModel,
    BiLMHead,
    BiLSTMStack,
    CharacterEncoder,
    ELMo,
    Highway,
    LSTMPLayer,
    Packing,
)

@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread (and are not slowed by a busy machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


SENTENCES = [
    ["The", "cat", "sat", "on", "the", "mat", "."],
    ["Hello", "🙂", "世界", "\x07bell"],
    ["a" * 80],
    [],
    ["The", "cat", "."],
]


def make_elmo(preset: str = "tiny", **kwargs) -> ELMo:
    torch.manual_seed(0)
    model = ELMo(ELMoConfig.preset(preset), **kwargs)
    return model.eval()


def padded_mask(lengths, seq):
    return torch.arange(seq).unsqueeze(0) < torch.as_tensor(lengths).unsqueeze(1)


@pytest.mark.filterwarnings("ignore:LSTM with projections")
def test_lstmp_layer_matches_torch_lstm():
    torch.manual_seed(0)
    layer = LSTMPLayer(input_dim=5, hidden_dim=7, proj_dim=3)
    ref = torch.nn.LSTM(5, 7, proj_size=3, batch_first=True)
    with torch.no_grad():
        ref.weight_ih_l0.copy_(layer.weight_ih)
        ref.weight_hh_l0.copy_(layer.weight_hh)
        ref.bias_ih_l0.copy_(layer.bias)
        ref.bias_hh_l0.zero_()
        ref.weight_hr_l0.copy_(layer.weight_proj)
    lengths = [6, 2, 4, 1]
    inputs = torch.randn(4, 6, 5)
    mask = padded_mask(lengths, 6)
    with torch.no_grad():
        out = layer(inputs, mask)
        out_rev = layer(inputs, mask, reverse=True)
        for b, n in enumerate(lengths):
            expected, _ = ref(inputs[b : b + 1, :n])
            assert torch.allclose(out[b, :n], expected[0], atol=1e-6)
            assert out[b, n:].abs().max() == 0 if n < 6 else True
            expected_rev, _ = ref(inputs[b : b + 1, :n].flip(1))
            assert torch.allclose(out_rev[b, :n], expected_rev[0].flip(0), atol=1e-6)


def test_lstmp_layer_clipping_matches_step_loop():
    torch.manual_seed(1)
    layer = LSTMPLayer(input_dim=4, hidden_dim=6, proj_dim=3, cell_clip=0.2, proj_clip=0.05)
    with torch.no_grad():
        for p in layer.parameters():
            p.mul_(4.0)
    inputs = torch.randn(1, 5, 4) * 3
    with torch.no_grad():
        out = layer(inputs, torch.ones(1, 5, dtype=torch.bool))
        h, c = torch.zeros(3), torch.zeros(6)
        for t in range(5):
            i, f, g, o = (layer.weight_ih @ inputs[0, t] + layer.weight_hh @ h + layer.bias).chunk(4)
            c = (torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)).clamp(-0.2, 0.2)
            h = (layer.weight_proj @ (torch.sigmoid(o) * torch.tanh(c))).clamp(-0.05, 0.05)
            assert torch.allclose(out[0, t], h, atol=1e-6)
    assert out.abs().max() <= 0.05 + 1e-7


def test_highway_convention():
    torch.manual_seed(0)
    highway = Highway(dim=4, n_layers=1)
    x = torch.randn(3, 4)
    layer = highway.layers[0]
    transform = x @ layer.weight[:4].t() + layer.bias[:4]
    gate = torch.sigmoid(x @ layer.weight[4:].t() + layer.bias[4:])
    expected = gate * x + (1 - gate) * torch.relu(transform)
    assert torch.allclose(highway(x), expected, atol=1e-6)
    assert torch.all(layer.bias[4:] == 1.0)


def test_character_encoder_equals_full_width_convolution():
    torch.manual_seed(0)
    encoder = CharacterEncoder(filters=[(1, 4), (3, 5), (7, 6)], n_highway=1, output_dim=8, char_dim=3)
    char_ids, mask = batch_to_char_ids([["", "a", "ab", "x" * 30, "y" * 47, "z" * 48, "w" * 200, "🙂"]])
    char_ids = torch.cat([char_ids[mask], boundary_char_ids(), torch.zeros(1, 50, dtype=torch.long)])
    embedded = encoder.embedding(char_ids).transpose(1, 2)
    pooled = torch.cat([conv(embedded).amax(dim=-1) for conv in encoder.convs], dim=-1)
    with torch.no_grad():
        assert torch.allclose(encoder.convolve(char_ids), torch.relu(pooled), atol=1e-6)
        assert torch.allclose(encoder(char_ids), encoder.projection(encoder.highway(torch.relu(pooled))), atol=1e-6)
        encoder.chunk_size = 3
        assert torch.allclose(encoder.convolve(char_ids), torch.relu(pooled), atol=1e-6)


def test_elmo_shapes_and_zero_padding():
    model = make_elmo()
    char_ids, mask = batch_to_char_ids(SENTENCES)
    with torch.no_grad():
        out = model(char_ids, mask)
    assert out.shape == (3, 5, 7, model.output_dim)
    assert model.output_dim == 32 and model.n_output_layers == 3
    assert out[:, ~mask].abs().max() == 0
    assert torch.equal(out[0, ..., :16], out[0, ..., 16:])
    assert torch.isfinite(out).all()


def test_sentence_alone_equals_sentence_in_padded_batch():
    model = make_elmo()
    char_ids, mask = batch_to_char_ids(SENTENCES)
    with torch.no_grad():
        batch_out = model(char_ids, mask)
        for i, sentence in enumerate(SENTENCES):
            alone = model(*batch_to_char_ids([sentence]))
            n = len(sentence)
            assert torch.allclose(alone[:, 0, :n], batch_out[:, i, :n], atol=1e-5)


def _plain_forward(model: ELMo, char_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Char CNN on every position (no dedup, no cache), then the padded LSTM stack."""
    batch, seq, _ = char_ids.shape
    lengths = mask.sum(1)
    tokens = model.char_encoder(char_ids.view(-1, char_ids.shape[-1])).view(batch, seq, -1) * mask.unsqueeze(-1)
    bos, eos = model.char_encoder(boundary_char_ids())
    grid = torch.zeros(batch, seq + 2, tokens.shape[-1])
    grid[:, 0] = bos
    grid[:, 1 : seq + 1] = tokens
    grid[torch.arange(batch), lengths + 1] = eos
    layers = model.lstm(grid, padded_mask(lengths + 2, seq + 2))[:, :, 1 : seq + 1] * mask.unsqueeze(-1)
    return torch.cat([torch.cat([tokens, tokens], -1).unsqueeze(0), layers])


@pytest.mark.parametrize("cache_size", [0, 3, 1000])
def test_dedup_and_cache_equal_plain_computation(cache_size):
    model = make_elmo(cache_size=cache_size)
    char_ids, mask = batch_to_char_ids(SENTENCES)
    with torch.no_grad():
        expected = _plain_forward(model, char_ids, mask)
        for _ in range(2):  # the second pass hits the cache
            assert (model(char_ids, mask) - expected).abs().max() <= 1e-6
        types, index, type_mask = batch_to_type_ids(SENTENCES)
        assert (model.forward_types(types, index, type_mask) - expected).abs().max() <= 1e-6


def test_cache_is_cleared_when_weights_change():
    model = make_elmo()
    char_ids, mask = batch_to_char_ids(SENTENCES[:2])
    with torch.no_grad():
        before = model(char_ids, mask)
        model.char_encoder.projection.bias.add_(1.0)
        after = model(char_ids, mask)
        assert torch.allclose(after, _plain_forward(model, char_ids, mask), atol=1e-6)
    assert not torch.allclose(before, after)


def test_forward_is_causal_per_direction():
    model = make_elmo()
    a = [["w1", "w2", "w3", "w4", "w5"]]
    b = [["w1", "w2", "CHANGED", "w4", "w5"]]
    with torch.no_grad():
        out_a = model(*batch_to_char_ids(a))
        out_b = model(*batch_to_char_ids(b))
    half = model.config.proj_dim
    for layer in range(1, 3):
        assert torch.equal(out_a[layer, 0, :2, :half], out_b[layer, 0, :2, :half])  # forward: left context only
        assert torch.equal(out_a[layer, 0, 3:, half:], out_b[layer, 0, 3:, half:])  # backward: right context only
        assert not torch.allclose(out_a[layer, 0, 3:, :half], out_b[layer, 0, 3:, :half])
        assert not torch.allclose(out_a[layer, 0, :2, half:], out_b[layer, 0, :2, half:])


def test_empty_inputs():
    model = make_elmo()
    with torch.no_grad():
        assert model(*batch_to_char_ids([])).shape == (3, 0, 0, 32)
        assert model(*batch_to_char_ids([[], []])).shape == (3, 2, 0, 32)


def test_bad_mask_raises():
    model = make_elmo()
    char_ids, mask = batch_to_char_ids([["a", "b", "c"]])
    mask[0, 1] = False
    with pytest.raises(ValueError, match="prefix"):
        model(char_ids, mask)


def test_gradients_reach_every_parameter():
    model = make_elmo()
    model.train()
    char_ids, mask = batch_to_char_ids(SENTENCES)
    model(char_ids, mask).sum().backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
        if "embedding" not in name:
            assert param.grad.abs().sum() > 0, name


def test_bilstm_stack_layers_use_residual():
    torch.manual_seed(0)
    stack = BiLSTMStack(input_dim=4, hidden_dim=5, proj_dim=4, n_layers=2)
    inputs = torch.randn(2, 3, 4)
    mask = padded_mask([3, 2], 3)
    with torch.no_grad():
        out = stack(inputs, mask)
        first_f = stack.forward_layers[0](inputs, mask)
        second_f = stack.forward_layers[1](first_f, mask) + first_f
        first_b = stack.backward_layers[0](inputs, mask, reverse=True)
        second_b = stack.backward_layers[1](first_b, mask, reverse=True) + first_b
    assert torch.allclose(out[1], torch.cat([second_f, second_b], -1), atol=1e-6)


def test_packing_indices():
    packing = Packing.from_lengths(torch.tensor([2, 3]), 3)
    assert packing.batch_sizes == [2, 2, 1]
    assert packing.forward_index.tolist() == [3, 0, 4, 1, 5]
    assert packing.backward_index.tolist() == [5, 1, 4, 0, 3]


def test_bilm_loss_matches_full_softmax_and_overfits():
    torch.manual_seed(0)
    elmo = ELMo(ELMoConfig(dropout=0.0))
    head = BiLMHead(input_dim=16, vocab_size=10)
    lm = BiLanguageModel(elmo, head, bos_id=1, eos_id=2)
    sentences = [["a", "b", "c"], ["d", "a"]]
    word_ids = torch.tensor([[3, 4, 5], [6, 3, 0]])
    types, index, mask = batch_to_type_ids(sentences)
    loss, nll = lm(types, index, mask, word_ids)
    assert nll[2] == 7  # 3 + 1 and 2 + 1 predictions per direction
    # the same loss from explicit full log-probabilities
    states = elmo.bilm_states(types, index, mask)
    expected = 0.0
    for b, words in enumerate([[1, 3, 4, 5, 2], [1, 6, 3, 2]]):
        n = len(words)
        fwd = states.packing.unpack(states.layers[-1][0])[b, : n - 1]
        bwd = states.packing.unpack(states.layers[-1][1], backward=True)[b, 1:n]
        expected = expected - head.log_prob(fwd)[torch.arange(n - 1), words[1:]].sum()
        expected = expected - head.log_prob(bwd)[torch.arange(n - 1), words[:-1]].sum()
    assert torch.allclose(loss, expected / 14, atol=1e-5)
    optimizer = torch.optim.Adam(lm.parameters(), lr=0.01)
    first = loss.item()
    for _ in range(60):
        optimizer.zero_grad()
        loss, _ = lm(types, index, mask, word_ids)
        loss.backward()
        optimizer.step()
    assert loss.item() < first / 4


def test_inference_path_equals_autograd_path():
    model = make_elmo()
    char_ids, mask = batch_to_char_ids(SENTENCES)
    with torch.inference_mode():
        fast = model(char_ids, mask)
    exact = model(char_ids, mask).detach()
    assert (fast - exact).abs().max() <= 1e-6


def test_cache_with_duplicate_rows_and_eviction():
    """Tokens whose first 48 bytes agree have the same character ids; the cache
    must stay consistent through duplicates and evictions."""
    model = make_elmo(cache_size=4)
    sentences = [["x" * 60 + "a", "x" * 60 + "b", "c", "d"], ["e", "f", "g", "c", "h"], ["x" * 70, "d", "i"]]
    reference = make_elmo(cache_size=0)
    with torch.no_grad():
        for _ in range(3):
            for sentence in sentences:
                types, index, mask = batch_to_type_ids([sentence])
                assert (model.forward_types(types, index, mask) - reference.forward_types(types, index, mask)).abs().max() <= 1e-6
    assert len(model._type_cache.slots) == 4

"""spacy-lm-suite.ELMo.v1: shapes, chunking, batch invariance, gradients, weights in and out."""

import json

import numpy
import pytest
import spacy
import torch
from spacy.tokens import Doc
from spacy.training import Example
from spacy.vocab import Vocab
from thinc.api import Adam, fix_random_seed

from spacy_lm_suite.elmo import ELMo as TorchELMo
from spacy_lm_suite.elmo import ELMoConfig
from spacy_lm_suite.elmo.checkpoint import save_elmo
from spacy_lm_suite.errors import UserError
from spacy_lm_suite.layers.elmo import ELMo, batch_chunks, plan_chunks, torch_elmo

WIDTH = ELMoConfig.preset("tiny").output_dim
N_LAYERS = ELMoConfig.preset("tiny").n_layers + 1


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny torch ops on a shared 2-core machine run far faster on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def vocab():
    return Vocab()


def make_doc(vocab, text, sent_starts=None):
    return Doc(vocab, words=text.split(), sent_starts=sent_starts)


def tiny_model(**settings):
    fix_random_seed(0)
    model = ELMo(preset="tiny", **settings)
    model.initialize()
    return model


def max_diff(first, second):
    return max((float(numpy.abs(a - b).max()) for a, b in zip(first, second) if a.size), default=0.0)


def test_width_known_before_initialize_from_the_preset():
    model = ELMo(preset="tiny")
    assert model.get_dim("nO") == WIDTH
    assert model.get_ref("encoder").get_dim("nL") == N_LAYERS


def test_shapes_including_empty_docs(vocab):
    model = tiny_model()
    docs = [make_doc(vocab, "the cat sat on the mat"), Doc(vocab, words=[]), make_doc(vocab, "hi")]
    assert [y.shape for y in model.predict(docs)] == [(6, WIDTH), (0, WIDTH), (1, WIDTH)]
    layers = model.get_ref("encoder").predict(docs)
    assert [x.shape for x in layers] == [(N_LAYERS, 6, WIDTH), (N_LAYERS, 0, WIDTH), (N_LAYERS, 1, WIDTH)]
    assert [y.shape for y in model.predict([Doc(vocab, words=[])])] == [(0, WIDTH)]


def test_a_doc_gets_the_same_vectors_alone_or_in_any_batch(vocab):
    model = tiny_model(max_tokens_per_chunk=4, max_batch_tokens=8)
    texts = ["a b c d e f g h i j", "short one", "x", "another sentence of some length here", ""]
    docs = [make_doc(vocab, text) for text in texts]
    together = model.predict(docs)
    alone = [model.predict([doc])[0] for doc in docs]
    reversed_batch = model.predict(docs[::-1])[::-1]
    assert max_diff(together, alone) <= 1e-5
    assert max_diff(together, reversed_batch) <= 1e-5


def test_plan_chunks_windows_and_sentences(vocab):
    long_doc = make_doc(vocab, " ".join(f"w{i}" for i in range(10)))
    assert plan_chunks([long_doc], max_tokens=4, sentences=True) == [(0, 0, 3), (0, 3, 6), (0, 6, 10)]
    sents = make_doc(vocab, "a b c d e f", sent_starts=[True, False, True, False, False, False])
    assert plan_chunks([sents], max_tokens=4, sentences=True) == [(0, 0, 2), (0, 2, 6)]
    assert plan_chunks([sents], max_tokens=4, sentences=False) == [(0, 0, 3), (0, 3, 6)]
    assert plan_chunks([Doc(vocab, words=[])], max_tokens=4, sentences=True) == []


def test_batches_stay_within_the_padded_budget():
    chunks = [(0, 0, 5), (1, 0, 2), (2, 0, 4), (3, 0, 1), (4, 0, 3)]
    batches = list(batch_chunks(chunks, max_batch_tokens=8))
    assert sorted(c for batch in batches for c in batch) == sorted(chunks)
    for batch in batches:
        assert len(batch) * max(end - start for _, start, end in batch) <= 8 or len(batch) == 1


def test_sentences_are_run_on_their_own(vocab):
    model = tiny_model()
    doc = make_doc(vocab, "a b c d e f", sent_starts=[True, False, False, True, False, False])
    whole = model.predict([doc])[0]
    first = model.predict([make_doc(vocab, "a b c")])[0]
    assert numpy.abs(whole[:3] - first).max() <= 1e-5


def test_a_10k_token_doc_is_cut_into_windows(vocab):
    model = tiny_model(max_tokens_per_chunk=256, max_batch_tokens=2048)
    words = [f"tok{i % 97}" for i in range(10_000)]
    (vectors,) = model.predict([Doc(vocab, words=words)])
    assert vectors.shape == (10_000, WIDTH) and numpy.isfinite(vectors).all()
    # 10,000 tokens make 40 windows of 250: the first window alone gives the same vectors
    (first,) = model.predict([Doc(vocab, words=words[:250])])
    assert numpy.abs(vectors[:250] - first).max() <= 1e-5


def test_emoji_cjk_and_control_characters(vocab):
    model = tiny_model()
    words = ["😀", "東京", "\x00", "\x07", "\t", "a\u200bb", "é" * 40, "x" * 200, "🇫🇷👩‍👩‍👧"]
    (vectors,) = model.predict([Doc(vocab, words=words)])
    assert vectors.shape == (len(words), WIDTH) and numpy.isfinite(vectors).all()


@pytest.mark.parametrize("grad", [True, False])
def test_gradients_reach_the_mix_and_the_encoder_only_if_fine_tuned(vocab, grad):
    model = tiny_model(grad=grad)
    docs = [make_doc(vocab, "the cat sat"), make_doc(vocab, "a dog")]
    outputs, backprop = model.begin_update(docs)
    backprop([numpy.ones_like(y) for y in outputs])
    mix = model.get_ref("mix").shims[0].module
    assert mix.scalar_parameters.grad is not None and float(mix.scalar_parameters.grad.abs().sum()) > 0
    assert mix.gamma.grad is not None and float(mix.gamma.grad.abs()) > 0
    encoder_grads = [p.grad for p in torch_elmo(model.get_ref("encoder")).parameters()]
    if grad:
        assert any(g is not None and float(g.abs().sum()) > 0 for g in encoder_grads)
    else:
        assert all(g is None for g in encoder_grads)


def test_an_optimizer_step_changes_the_predictions(vocab):
    model = tiny_model()
    docs = [make_doc(vocab, "the cat sat on the mat")]
    before = model.predict(docs)  # fills the type cache
    outputs, backprop = model.begin_update(docs)
    backprop([numpy.ones_like(y) for y in outputs])
    model.finish_update(Adam(0.01))
    after = model.predict(docs)
    fresh = ELMo(preset="tiny").from_bytes(model.to_bytes()).predict(docs)
    assert max_diff(before, after) > 1e-4
    assert max_diff(after, fresh) == 0.0


def test_to_bytes_and_back_gives_the_same_vectors(vocab):
    model = tiny_model(layer_norm=True)
    docs = [make_doc(vocab, "the cat sat on the mat"), make_doc(vocab, "x")]
    data = model.to_bytes()
    loaded = ELMo(preset="tiny", layer_norm=True).from_bytes(data)
    assert max_diff(model.predict(docs), loaded.predict(docs)) == 0.0
    assert b"pickle" not in data and b"torch._utils" not in data


def test_an_uninitialized_model_round_trips():
    model = ELMo(preset="tiny")
    loaded = ELMo(preset="tiny").from_bytes(model.to_bytes())
    assert not loaded.get_ref("encoder").shims[0].is_built


def test_corrupt_saved_bytes_give_a_clear_error(vocab):
    model = tiny_model()
    encoder_shim = model.get_ref("encoder").shims[0]
    encoder_shim.to_bytes = lambda: b"\x08\x00\x00\x00\x00\x00\x00\x00{broken"
    with pytest.raises(UserError, match="ELMo encoder weights are corrupt"):
        ELMo(preset="tiny").from_bytes(model.to_bytes())


def test_no_weights_to_start_from_is_a_clear_error():
    with pytest.raises(UserError, match="no weights to start from"):
        ELMo().initialize()


def test_bad_chunk_settings():
    with pytest.raises(UserError, match="max_tokens_per_chunk"):
        ELMo(preset="tiny", max_tokens_per_chunk=512, max_batch_tokens=100)


def test_path_loads_a_checkpoint(vocab, tmp_path):
    fix_random_seed(1)
    elmo = TorchELMo(config=ELMoConfig.preset("tiny"))
    save_elmo(elmo, tmp_path / "elmo")
    model = ELMo(path=tmp_path / "elmo")
    assert model.get_dim("nO") == WIDTH  # read from config.json before initialize
    model.initialize()
    loaded = torch_elmo(model.get_ref("encoder"))
    for (name, value), (_, expected) in zip(loaded.state_dict().items(), elmo.state_dict().items()):
        assert torch.equal(value, expected), name


def test_a_checkpoint_of_another_size_than_the_preset_is_a_clear_error(tmp_path):
    config = ELMoConfig.preset("tiny")
    config.proj_dim = 8
    save_elmo(TorchELMo(config=config), tmp_path / "elmo")
    with pytest.raises(UserError, match=r"does not have the size of preset 'tiny'.*proj_dim 8 \(preset: 16\)"):
        ELMo(preset="tiny", path=tmp_path / "elmo").initialize()


def test_reloading_weights_of_another_size_is_a_clear_error(tmp_path):
    model = tiny_model()
    config = ELMoConfig.preset("tiny")
    config.proj_dim = 8
    save_elmo(TorchELMo(config=config), tmp_path / "elmo")
    model.get_ref("encoder").attrs["path"] = str(tmp_path / "elmo")
    model.get_ref("encoder").attrs["preset"] = None
    with pytest.raises(UserError, match="another size"):
        model.initialize()


def test_a_corrupt_weights_file_is_a_clear_error(tmp_path):
    save_elmo(TorchELMo(config=ELMoConfig.preset("tiny")), tmp_path / "elmo")
    (tmp_path / "elmo" / "weights.safetensors").write_bytes(b"not safetensors at all")
    with pytest.raises(UserError, match="weights.safetensors"):
        ELMo(path=tmp_path / "elmo").initialize()


def test_a_broken_config_json_is_a_clear_error(tmp_path):
    (tmp_path / "elmo").mkdir()
    (tmp_path / "elmo" / "config.json").write_text(json.dumps({"proj_dim": "big"}))
    with pytest.raises(UserError, match="config.json"):
        ELMo(path=tmp_path / "elmo")


@pytest.mark.parametrize("factory", ["tagger", "textcat"])
def test_usable_directly_as_the_tok2vec_of_a_component(factory, tmp_path):
    fix_random_seed(0)
    nlp = spacy.blank("en")
    tok2vec = {"@architectures": "spacy-lm-suite.ELMo.v1", "preset": "tiny"}
    if factory == "tagger":
        nlp.add_pipe("tagger", config={"model": {"@architectures": "spacy.Tagger.v2", "tok2vec": tok2vec}})
        data = [("I like cats", {"tags": ["PRP", "VBP", "NNS"]}), ("dogs bark", {"tags": ["NNS", "VBP"]})]
    else:
        nlp.add_pipe("textcat", config={"model": {"@architectures": "spacy.TextCatEnsemble.v2", "tok2vec": tok2vec}})
        data = [("I like cats", {"cats": {"A": 1.0, "B": 0.0}}), ("dogs bark", {"cats": {"A": 0.0, "B": 1.0}})]
    examples = [Example.from_dict(nlp.make_doc(text), annotations) for text, annotations in data]
    optimizer = nlp.initialize(lambda: examples)
    optimizer.learn_rate = 0.02
    for _ in range(40):
        nlp.update(examples, sgd=optimizer)
    nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    for text, annotations in data:
        doc, again = nlp(text), loaded(text)
        if factory == "tagger":
            assert [t.tag_ for t in doc] == [t.tag_ for t in again] == annotations["tags"]
        else:
            assert max(doc.cats, key=doc.cats.get) == max(annotations["cats"], key=annotations["cats"].get)
            assert all(abs(doc.cats[label] - again.cats[label]) <= 1e-5 for label in doc.cats)

"""lm_transformer's auxiliary masked-LM loss: L = L_task + weight * L_MLM while fine-tuning."""

import io
import json
import shutil

import pytest
import spacy
import torch
from spacy.training import Example
from thinc.api import fix_random_seed

from spacy_lm_suite.errors import UserError
from spacy_lm_suite.layers.transformer import hf_encoder

NER_DATA = [
    ("Alice lives in Paris", [(0, 5, "PER"), (15, 20, "LOC")]),
    ("Bob visited London yesterday", [(0, 3, "PER"), (12, 18, "LOC")]),
    ("I like Berlin and the river bank", [(7, 13, "LOC")]),
]
LISTENER = {"@architectures": "spacy-lm-suite.TransformerListener.v1", "upstream": "*"}
TINY = {"window": 48, "stride": 32}  # the tiny models take 64 positions

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def build(folder, aux_loss=None, *, seed=0):
    fix_random_seed(seed)
    nlp = spacy.blank("en")
    config = {"model": {"name": str(folder), **TINY}}
    if aux_loss is not None:
        config["aux_loss"] = aux_loss
    nlp.add_pipe("lm_transformer", config=config)
    nlp.add_pipe("ner", config={"model": {
        "@architectures": "spacy.TransitionBasedParser.v2", "state_type": "ner", "hidden_width": 32,
        "maxout_pieces": 2, "use_upper": True, "tok2vec": LISTENER,
    }})
    return nlp


def train(folder, aux_loss=None, *, steps=4, seed=0):
    nlp = build(folder, aux_loss, seed=seed)
    examples = [Example.from_dict(nlp.make_doc(text), {"entities": ents}) for text, ents in NER_DATA]
    optimizer = nlp.initialize(lambda: examples)
    losses = []
    for _ in range(steps):
        losses.append(nlp.update(examples, sgd=optimizer, drop=0.0, losses={}))
    return nlp, losses


def encoder_state(nlp):
    return {name: value.detach().clone() for name, value in hf_encoder(nlp.get_pipe("lm_transformer").encoder).model.state_dict().items()}


def same_state(first, second):
    return first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


def test_weight_zero_is_bit_identical_to_no_aux_loss(tiny_bert_dir):
    plain, plain_losses = train(tiny_bert_dir)
    zero, zero_losses = train(tiny_bert_dir, {"weight": 0.0})
    assert same_state(encoder_state(plain), encoder_state(zero))
    assert plain_losses == zero_losses
    assert hf_encoder(zero.get_pipe("lm_transformer").encoder).lm_head is None  # not even a head
    assert "lm_transformer_mlm" not in zero_losses[-1]


def test_a_positive_weight_trains_the_encoder_differently_and_logs_its_loss(tiny_bert_dir):
    plain, _ = train(tiny_bert_dir)
    aux, losses = train(tiny_bert_dir, {"weight": 0.5})
    assert not same_state(encoder_state(plain), encoder_state(aux))
    values = [step["lm_transformer_mlm"] for step in losses]
    assert all(value > 0 for value in values)
    assert values[0] == pytest.approx(torch.log(torch.tensor(300.0)).item(), rel=0.3)  # ~uniform over the vocab


def test_masking_reproduces_with_the_seed(tiny_bert_dir):
    first, first_losses = train(tiny_bert_dir, {"weight": 0.5}, steps=3, seed=1)
    again, again_losses = train(tiny_bert_dir, {"weight": 0.5}, steps=3, seed=1)
    assert same_state(encoder_state(first), encoder_state(again))
    assert [s["lm_transformer_mlm"] for s in first_losses] == [s["lm_transformer_mlm"] for s in again_losses]
    other, other_losses = train(tiny_bert_dir, {"weight": 0.5}, steps=3, seed=2)
    assert [s["lm_transformer_mlm"] for s in other_losses] != [s["lm_transformer_mlm"] for s in first_losses]


def test_the_head_is_dropped_when_saved_unless_kept(tiny_bert_dir, tmp_path):
    dropped, _ = train(tiny_bert_dir, {"weight": 0.5}, steps=1)
    kept, _ = train(tiny_bert_dir, {"weight": 0.5, "keep_head": True}, steps=1)
    dropped.to_disk(tmp_path / "dropped")
    kept.to_disk(tmp_path / "kept")
    size = lambda folder: sum(p.stat().st_size for p in (tmp_path / folder / "lm_transformer").rglob("*") if p.is_file())
    assert size("kept") > size("dropped")
    assert hf_encoder(spacy.load(tmp_path / "dropped").get_pipe("lm_transformer").encoder).lm_head is None
    reloaded = hf_encoder(spacy.load(tmp_path / "kept").get_pipe("lm_transformer").encoder)
    original = hf_encoder(kept.get_pipe("lm_transformer").encoder)
    assert same_state(reloaded.lm_head.state_dict(), original.lm_head.state_dict())
    # the tied output matrix is the input embedding again, not a copy
    assert reloaded.lm_head.predictions.decoder.weight is reloaded.model.get_input_embeddings().weight
    # same predictions after the round trip
    for text, _ in NER_DATA:
        assert [e.text for e in spacy.load(tmp_path / "dropped")(text).ents] == [e.text for e in dropped(text).ents]


def test_training_a_pipeline_saved_without_its_head_makes_a_new_one(tiny_bert_dir, tmp_path, caplog):
    nlp, _ = train(tiny_bert_dir, {"weight": 0.5}, steps=1)
    nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    examples = [Example.from_dict(loaded.make_doc(text), {"entities": ents}) for text, ents in NER_DATA]
    losses = loaded.update(examples, sgd=loaded.resume_training(), losses={})
    assert losses["lm_transformer_mlm"] > 0


def test_the_head_loads_from_a_folder_that_has_one(tiny_bert_dir, tmp_path):
    from transformers import AutoModelForMaskedLM

    folder = tmp_path / "with-head"
    shutil.copytree(tiny_bert_dir, folder)
    torch.manual_seed(3)
    lm = AutoModelForMaskedLM.from_pretrained(str(tiny_bert_dir))
    lm.save_pretrained(str(folder), safe_serialization=True)
    from spacy_lm_suite.transformers.loading import load_encoder
    from spacy_lm_suite.transformers.mlm_head import attach_mlm_head

    encoder = load_encoder(folder)
    info = attach_mlm_head(encoder, source=str(folder))
    assert info["head"] == "cls" and "predictions.transform.dense.weight" in info["loaded"] and not info["new"]
    assert torch.equal(encoder.lm_head.predictions.transform.dense.weight, lm.cls.predictions.transform.dense.weight)
    fresh = info_without_head = attach_mlm_head(load_encoder(tiny_bert_dir), source=str(tiny_bert_dir))
    assert "predictions.transform.dense.weight" in fresh["new"] and not info_without_head["loaded"]


@pytest.mark.parametrize(
    "aux_loss,message",
    [
        ({"weight": -0.1}, "weight (lambda) must be a number >= 0"),
        ({"mask_prob": 0.0}, "mask_prob must be strictly between 0 and 1"),
        ({"mask_prob": 1.0}, "mask_prob must be strictly between 0 and 1"),
        ({"objective": "clm"}, "objective must be \"mlm\""),
        ({"lambda": 0.1}, "unknown key(s) lambda"),
        ({"keep_head": "yes"}, "keep_head must be true or false"),
    ],
)
def test_bad_settings_are_clear_errors(tiny_bert_dir, aux_loss, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build(tiny_bert_dir, aux_loss)


def test_a_frozen_encoder_with_aux_loss_is_an_error(tiny_bert_dir):
    nlp = spacy.blank("en")
    with pytest.raises(UserError, match="aux_loss is a fine-tuning option but the encoder is frozen"):
        nlp.add_pipe("lm_transformer", config={"model": {"name": str(tiny_bert_dir), **TINY, "grad": False},
                                               "aux_loss": {"weight": 0.1}})


def test_mlm_on_a_causal_model_is_an_error(tiny_bert_dir, tmp_path):
    from transformers import GPT2Config, GPT2Model

    folder = tmp_path / "gpt2"
    shutil.copytree(tiny_bert_dir, folder)
    for stale in folder.glob("*.safetensors"):
        stale.unlink()
    vocab = json.loads((folder / "config.json").read_text())["vocab_size"]
    GPT2Model(GPT2Config(vocab_size=vocab, n_embd=32, n_layer=1, n_head=2, n_positions=64)).save_pretrained(str(folder))
    nlp = build(folder, {"weight": 0.1})
    examples = [Example.from_dict(nlp.make_doc(text), {"entities": ents}) for text, ents in NER_DATA]
    with pytest.raises(UserError, match="needs a masked-LM model .* gpt2 model is a causal LM"):
        nlp.initialize(lambda: examples)


def test_the_console_logger_shows_the_aux_loss_column_and_writes_it(tiny_bert_dir, tmp_path):
    nlp, losses = train(tiny_bert_dir, {"weight": 0.5}, steps=2)
    logger = spacy.registry.loggers.get("spacy-lm-suite.ConsoleLogger.v1")(
        output_file=tmp_path / "log.jsonl", csv_file=tmp_path / "log.csv"
    )
    stdout = io.StringIO()
    log_step, finalize = logger(nlp, stdout, io.StringIO())
    info = {"epoch": 1, "step": 2, "losses": losses[-1], "other_scores": {"ents_f": 0.5}, "score": 0.5,
            "checkpoints": [], "seconds": 1, "words": 10}
    log_step(info)
    finalize()
    header, _, row = stdout.getvalue().splitlines()[-3:]
    assert "LOSS MLM" in header
    mlm = losses[-1]["lm_transformer_mlm"]
    assert f"{mlm:.2f}" in row.split()
    record = json.loads((tmp_path / "log.jsonl").read_text().splitlines()[-1])
    assert record["losses"]["mlm"] == pytest.approx(mlm)
    csv_lines = (tmp_path / "log.csv").read_text().splitlines()
    assert csv_lines[0].startswith("epoch,step,loss lm_transformer,loss mlm,loss ner")
    assert float(csv_lines[1].split(",")[3]) == pytest.approx(mlm)
    assert csv_lines[0].endswith(",score,seconds,words") and csv_lines[1].endswith(",0.5,1,10")


def test_the_console_logger_without_aux_loss_is_spacys(tiny_bert_dir):
    nlp, losses = train(tiny_bert_dir, steps=1)
    ours, theirs = io.StringIO(), io.StringIO()
    spacy.registry.loggers.get("spacy-lm-suite.ConsoleLogger.v1")()(nlp, ours, io.StringIO())
    spacy.registry.loggers.get("spacy.ConsoleLogger.v3")()(nlp, theirs, io.StringIO())
    assert ours.getvalue() == theirs.getvalue()

"""MLM / CLM pretraining (``spacy_lm_suite/transformers/pretrain.py``): tiny runs on the committed sample."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy
import pytest
import torch
from safetensors.torch import load_file

from spacy_lm_suite.errors import UserError
from spacy_lm_suite.runs.checkpoints import FAULT_ENV
from spacy_lm_suite.transformers.pretrain import (
    collator_generator,
    make_batch,
    make_blocks,
    make_collator,
    encode_stream,
    pretrain_transformer,
    train_tokenizer,
)

torch.set_num_threads(1)
SAMPLE = Path(__file__).resolve().parents[2] / "assets" / "gutenberg" / "raw.txt"
TEXTS = [line for line in SAMPLE.read_text(encoding="utf-8").splitlines() if line.strip()]
TINY = dict(
    preset="tiny", vocab_size=400, max_length=32, batch_size=8, lr=3e-3, checkpoint_every=4, log_every=2,
    eval_every=4, progress=False, limit=200,
)


def run(output_dir, *, objective, steps=10, **extra):
    settings = {**TINY, **extra}
    return pretrain_transformer(texts=str(SAMPLE), output_dir=output_dir, objective=objective, steps=steps, **settings)


def records(folder):
    return [json.loads(line) for line in (Path(folder) / "metrics.jsonl").read_text().splitlines()]


def assert_same_run(a, b):
    for name in ("checkpoint/model.safetensors", "checkpoint/optimizer.safetensors"):
        left, right = load_file(str(Path(a) / name)), load_file(str(Path(b) / name))
        assert left.keys() == right.keys()
        for key in left:
            assert torch.equal(left[key], right[key]), f"{name}:{key}"
    strip = lambda rs: [{k: v for k, v in r.items() if k != "pieces_per_second"} for r in rs]  # noqa: E731
    assert strip(records(a)) == strip(records(b))
    state_a = json.loads((Path(a) / "state.json").read_text())
    state_b = json.loads((Path(b) / "state.json").read_text())
    assert state_a["collator_rng"] == state_b["collator_rng"] and state_a["rng"] == state_b["rng"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return {objective: run(root / objective, objective=objective, steps=16, max_length=64) for objective in ("mlm", "clm")}


@pytest.mark.parametrize("objective", ["mlm", "clm"])
def test_tiny_run_lowers_loss_and_writes_the_run_folder(runs, objective):
    result = runs[objective]
    folder = result.output_dir
    train = [r["train_loss"] for r in records(folder) if r["kind"] == "train"]
    dev = [r["dev_perplexity"] for r in records(folder) if r["kind"] == "dev"]
    assert train[-1] < train[0] and dev[-1] < dev[0]
    state = json.loads((folder / "state.json").read_text())
    assert state["complete"] and state["step"] == 16 and state["scheduler"]["name"] == "linear"
    provenance = json.loads((folder / "provenance.json").read_text())
    assert provenance["dev_perplexity"] == pytest.approx(dev[-1]) and provenance["data_fingerprint"]
    for name in ("metrics.csv", "curves.png", "model.safetensors", "tokenizer.json", "config.json"):
        assert (folder / name).is_file()
    mask = 0o666 & ~_umask()
    assert (folder / "model.safetensors").stat().st_mode & 0o777 == mask


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_mlm_output_loads_in_lm_transformer(runs):
    import spacy

    out = runs["mlm"].output_dir
    nlp = spacy.blank("en")
    nlp.add_pipe("lm_transformer", config={"model": {"name": str(out), "window": 48, "stride": 32}})
    nlp.initialize()
    doc = nlp("Emma was handsome, clever, and rich.")
    assert doc.tensor.shape[0] == len(doc)


def test_clm_output_loads_in_auto_model_for_causal_lm(runs):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = runs["clm"].output_dir
    model = AutoModelForCausalLM.from_pretrained(str(out), use_safetensors=True)
    tokenizer = AutoTokenizer.from_pretrained(str(out))
    assert type(model).__name__ == "GPT2LMHeadModel"
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    ids = tokenizer("Emma was", return_tensors="pt")["input_ids"]
    assert model(input_ids=ids).logits.shape[-1] == len(tokenizer)


def test_clm_output_generates_in_lm_generator(runs):
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("lm_generator", config={"model": str(runs["clm"].output_dir), "decoding": {"max_new_tokens": 5}})
    nlp.initialize()
    doc = nlp("Emma was")
    assert isinstance(doc._.generated, str) and 1 <= len(doc._.generation["new_token_ids"]) <= 5


@pytest.fixture(scope="module")
def tokenizers(tmp_path_factory):
    """One trained tokenizer per objective: HF tokenizers training is not
    bit-reproducible across processes, so runs that are compared share one."""
    root = tmp_path_factory.mktemp("tokenizers")
    folders = {}
    for objective, arch in (("mlm", "bert"), ("clm", "gpt2")):
        folders[objective] = root / objective
        train_tokenizer(TEXTS[:200], arch=arch, vocab_size=400, max_length=32).save_pretrained(str(folders[objective]))
    return folders


@pytest.mark.parametrize("objective", ["mlm", "clm"])
def test_resume_after_a_stop_equals_an_uninterrupted_run(tmp_path, objective, tokenizers):
    tok = str(tokenizers[objective])
    run(tmp_path / "full", objective=objective, steps=10, tokenizer=tok)
    stopped = run(tmp_path / "parts", objective=objective, steps=10, max_steps_this_run=5, tokenizer=tok)
    assert not stopped.finished and stopped.step == 5
    resumed = run(tmp_path / "parts", objective=objective, steps=10, resume=True, tokenizer=tok)
    assert resumed.finished
    assert_same_run(tmp_path / "full", tmp_path / "parts")


WORKER = """
import sys, torch
torch.set_num_threads(1)
from spacy_lm_suite.transformers.pretrain import pretrain_transformer
pretrain_transformer(texts=sys.argv[1], output_dir=sys.argv[2], objective="mlm", steps=10, resume=True, tokenizer=sys.argv[3], **{TINY!r})
"""


@pytest.mark.parametrize("point", ["written:checkpoint/optimizer.safetensors#2", "written:state.json#2", "renamed:checkpoint/model.safetensors#2"])
def test_kill_during_a_checkpoint_save_then_resume_equals_uninterrupted(tmp_path, point, tokenizers):
    tok = str(tokenizers["mlm"])
    run(tmp_path / "full", objective="mlm", steps=10, tokenizer=tok)
    script = tmp_path / "worker.py"
    script.write_text(WORKER.replace("{TINY!r}", repr(TINY)))
    env = {**os.environ, FAULT_ENV: point, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(script), str(SAMPLE), str(tmp_path / "killed"), tok], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == -9, done.stderr[-2000:]
    run(tmp_path / "killed", objective="mlm", steps=10, resume=True, tokenizer=tok)
    assert_same_run(tmp_path / "full", tmp_path / "killed")


@pytest.fixture(scope="module")
def bert_tokenizer():
    return train_tokenizer(TEXTS, arch="bert", vocab_size=600, max_length=64)


def test_tokenizer_training_on_the_sample(bert_tokenizer):
    gpt2 = train_tokenizer(TEXTS, arch="gpt2", vocab_size=600, max_length=64)
    assert len(bert_tokenizer) <= 600 and bert_tokenizer.mask_token == "[MASK]"
    assert any(piece.startswith("##") for piece in bert_tokenizer.get_vocab())
    encoded = bert_tokenizer("Emma Woodhouse, handsome.")["input_ids"]
    assert encoded[0] == bert_tokenizer.cls_token_id and encoded[-1] == bert_tokenizer.sep_token_id
    text = "Emma Woodhouse, handsome, clever."
    assert gpt2.decode(gpt2(text)["input_ids"]) == text  # byte-level: lossless
    assert gpt2.eos_token == "<|endoftext|>" and gpt2.pad_token_id != gpt2.eos_token_id


def _blocks(tokenizer, n_texts=600, max_length=64):
    stream = encode_stream(TEXTS[:n_texts], tokenizer, separator_id=tokenizer.sep_token_id)
    return make_blocks(stream, objective="mlm", max_length=max_length, tokenizer=tokenizer)


def test_masking_statistics_on_a_fixed_seed(bert_tokenizer):
    blocks = _blocks(bert_tokenizer)
    collator = make_collator(bert_tokenizer, objective="mlm", generator=collator_generator(seed=3, rank=0))
    batch = make_batch(blocks, objective="mlm", collator=collator, tokenizer=bert_tokenizer)
    original = torch.from_numpy(blocks)
    special = torch.from_numpy(numpy.isin(blocks, bert_tokenizer.all_special_ids))
    targets = batch["labels"] != -100
    assert not (targets & special).any()
    assert torch.equal(batch["labels"][targets], original[targets])
    rate = targets.sum().item() / (~special).sum().item()
    assert abs(rate - 0.15) < 0.01
    n = targets.sum().item()
    masked = (batch["input_ids"][targets] == bert_tokenizer.mask_token_id).sum().item() / n
    kept = (batch["input_ids"][targets] == original[targets]).sum().item() / n
    assert abs(masked - 0.8) < 0.02
    # a random replacement may draw the original piece: "kept" is 10 % plus a little
    assert 0.08 < kept < 0.13 and abs(1 - masked - kept - 0.1) < 0.03
    assert torch.equal(batch["input_ids"][~targets], original[~targets])


def test_seed_zero_does_not_use_the_global_rng(bert_tokenizer):
    blocks = _blocks(bert_tokenizer, n_texts=100)

    def labels(*, seed, rank, global_seed):
        torch.manual_seed(global_seed)
        collator = make_collator(bert_tokenizer, objective="mlm", generator=collator_generator(seed=seed, rank=rank))
        return make_batch(blocks, objective="mlm", collator=collator, tokenizer=bert_tokenizer)["labels"]

    first = labels(seed=0, rank=0, global_seed=1)
    assert torch.equal(first, labels(seed=0, rank=0, global_seed=2))  # the global RNG does not matter
    assert not torch.equal(first, labels(seed=0, rank=1, global_seed=1))  # each process has its own stream
    assert not torch.equal(first, labels(seed=1, rank=0, global_seed=1))


def test_whole_word_masking_on_wordpiece(bert_tokenizer):
    blocks = _blocks(bert_tokenizer, n_texts=200)
    collator = make_collator(
        bert_tokenizer, objective="mlm", generator=collator_generator(seed=0, rank=0), whole_word_masking=True
    )
    torch.manual_seed(0)
    first = make_batch(blocks, objective="mlm", collator=collator, tokenizer=bert_tokenizer)
    targets = first["labels"] != -100
    continued = 0
    for row, ids in enumerate(blocks.tolist()):
        pieces = bert_tokenizer.convert_ids_to_tokens(ids)
        for at in range(2, len(pieces) - 1):
            if pieces[at].startswith("##"):
                continued += 1
                assert targets[row, at] == targets[row, at - 1], (row, at, pieces[at - 1 : at + 1])
    assert continued > 50 and 0.1 < targets.float().mean().item() < 0.2
    torch.manual_seed(1)  # the shuffle of words draws from the generator, not `random` or the global RNG
    again = make_collator(bert_tokenizer, objective="mlm", generator=collator_generator(seed=0, rank=0), whole_word_masking=True)
    assert torch.equal(make_batch(blocks, objective="mlm", collator=again, tokenizer=bert_tokenizer)["labels"], first["labels"])


def test_whole_word_masking_refuses_byte_level_bpe(tmp_path):
    with pytest.raises(UserError, match="--whole-word-masking"):
        pretrain_transformer(texts=str(SAMPLE), output_dir=tmp_path / "out", objective="mlm", whole_word_masking=True, **{**TINY, "preset": None}, model=str(_gpt2_as_mlm_folder(tmp_path)))
    assert not (tmp_path / "out").exists()


def _gpt2_as_mlm_folder(tmp_path):
    """A RoBERTa-shaped model with a byte-level BPE tokenizer (a masked LM that is not WordPiece)."""
    from transformers import RobertaConfig, RobertaForMaskedLM, RobertaTokenizerFast
    from tokenizers import ByteLevelBPETokenizer

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(TEXTS[:300], vocab_size=300, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"], show_progress=False)
    folder = tmp_path / "roberta"
    folder.mkdir()
    bpe.save_model(str(folder))
    tokenizer = RobertaTokenizerFast(vocab_file=str(folder / "vocab.json"), merges_file=str(folder / "merges.txt"), model_max_length=64)
    tokenizer.save_pretrained(str(folder))
    config = RobertaConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, max_position_embeddings=70)
    RobertaForMaskedLM(config).save_pretrained(str(folder), safe_serialization=True)
    return folder


def test_eos_is_a_clm_target():
    tokenizer = train_tokenizer(TEXTS[:300], arch="gpt2", vocab_size=400, max_length=32)
    stream = encode_stream(TEXTS[:300], tokenizer, separator_id=tokenizer.eos_token_id)
    blocks = make_blocks(stream, objective="clm", max_length=32, tokenizer=tokenizer)
    batch = make_batch(blocks, objective="clm", collator=None, tokenizer=tokenizer)
    eos = batch["input_ids"] == tokenizer.eos_token_id
    assert eos.sum() > 10
    assert (batch["labels"][eos] == tokenizer.eos_token_id).all()
    assert (batch["labels"] != -100).all() and batch["attention_mask"].all()  # no padding anywhere
    assert tokenizer.pad_token_id not in blocks


# -- bad input: one clear error each, nothing written -------------------------------------


def test_empty_corpus(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(UserError, match="empty"):
        pretrain_transformer(texts=str(empty), output_dir=tmp_path / "out", objective="mlm", steps=2, **TINY)
    assert not (tmp_path / "out").exists()


def test_corpus_shorter_than_one_block(tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("Emma Woodhouse, handsome, clever, and rich.\n" * 3)
    with pytest.raises(UserError, match="fewer than one block"):
        pretrain_transformer(texts=str(short), output_dir=tmp_path / "out", objective="clm", steps=2, **{**TINY, "max_length": 512, "vocab_size": 64})
    assert not (tmp_path / "out").exists()


def test_model_folder_without_tokenizer(tmp_path, runs):
    folder = tmp_path / "bare"
    folder.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(runs["mlm"].output_dir / name, folder / name)
    with pytest.raises(UserError, match="no tokenizer"):
        pretrain_transformer(texts=str(SAMPLE), output_dir=tmp_path / "out", objective="mlm", model=str(folder), steps=2, **{**TINY, "preset": None})
    assert not (tmp_path / "out").exists()


def test_causal_model_asked_for_mlm_and_the_reverse(tmp_path, runs):
    settings = {**TINY, "preset": None}
    with pytest.raises(UserError, match="causal LM, not a masked LM"):
        pretrain_transformer(texts=str(SAMPLE), output_dir=tmp_path / "a", objective="mlm", model=str(runs["clm"].output_dir), steps=2, **settings)
    with pytest.raises(UserError, match="not a causal LM"):
        pretrain_transformer(texts=str(SAMPLE), output_dir=tmp_path / "b", objective="clm", model=str(runs["mlm"].output_dir), steps=2, **settings)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_continued_pretraining_records_loading_info(tmp_path, runs):
    result = pretrain_transformer(
        texts=str(SAMPLE), output_dir=tmp_path / "cont", objective="mlm", model=str(runs["mlm"].output_dir), steps=3,
        **{**TINY, "preset": None},
    )
    assert result.loading_info is not None and result.loading_info["missing_keys"] == []
    assert json.loads((tmp_path / "cont" / "provenance.json").read_text())["loading_info"] == result.loading_info


def test_a_continued_run_resumes_through_a_link_to_its_model(tmp_path, runs):
    """The project names MiniLM by a link (training/minilm): the run records the folder itself."""
    link = tmp_path / "model-link"
    link.symlink_to(runs["mlm"].output_dir, target_is_directory=True)
    settings = {**TINY, "preset": None}
    pretrain_transformer(texts=str(SAMPLE), output_dir=tmp_path / "cont", objective="mlm", model=str(link), steps=4,
                         max_steps_this_run=2, **settings)
    state = json.loads((tmp_path / "cont" / "state.json").read_text())
    assert state["training"]["model"] == str(Path(runs["mlm"].output_dir).resolve())
    result = pretrain_transformer(texts=str(SAMPLE), output_dir=tmp_path / "cont", objective="mlm",
                                  model=str(runs["mlm"].output_dir), steps=4, resume=True, **settings)
    assert result.step == 4


def test_checkpoint_from_another_config(tmp_path):
    run(tmp_path / "run", objective="mlm", steps=6, max_steps_this_run=4)
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "run").rglob("*") if p.is_file()}
    with pytest.raises(UserError, match="cannot resume with different settings.*batch_size"):
        run(tmp_path / "run", objective="mlm", steps=6, resume=True, batch_size=4)
    with pytest.raises(UserError, match="pass --resume"):
        run(tmp_path / "run", objective="mlm", steps=6)
    after = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "run").rglob("*") if p.is_file()}
    assert before == after


def test_non_empty_folder_that_is_not_a_run(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    for resume in (False, True):
        with pytest.raises(UserError, match="holds no output of spacy-lm-suite"):
            run(folder, objective="clm", steps=2, resume=resume)
    assert [p.name for p in folder.iterdir()] == ["notes.txt"]

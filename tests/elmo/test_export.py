import json
import sys

import pytest
import torch

from spacy_lm_suite.cli import main
from spacy_lm_suite.elmo import batch_to_char_ids, load_elmo
from spacy_lm_suite.elmo.export import export_encoder
from spacy_lm_suite.elmo.pretrain import pretrain_elmo
from spacy_lm_suite.errors import UserError
from spacy_lm_suite.runs.outputs import MANIFEST_FILE

TEXTS = ["the cat sees the dog .", "a dog likes music .", "the old man paints a red house ."] * 20
ARGS = dict(config="tiny", vocab_size=20, batch_size=4, seq_len=10, seed=0, dev_fraction=0.1, progress=False)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A finished and an unfinished tiny pretraining run."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("pretrained")
    pretrain_elmo(texts=TEXTS, output_dir=root / "finished", steps=6, checkpoint_every=3, **ARGS)
    pretrain_elmo(texts=TEXTS, output_dir=root / "unfinished", steps=6, checkpoint_every=3, max_steps_this_run=3, **ARGS)
    return root


def test_export_copies_the_encoder_and_records_provenance(runs, tmp_path):
    record = export_encoder(runs / "finished", tmp_path / "out", command="pretrain-elmo ...")
    names = sorted(path.name for path in (tmp_path / "out").iterdir())
    assert names == [MANIFEST_FILE, "config.json", "curves.png", "metrics.jsonl", "pretraining.json", "weights.safetensors"]
    manifest = json.loads((tmp_path / "out" / MANIFEST_FILE).read_text())
    assert manifest["command"] == "export-elmo" and manifest["files"] == sorted(names[1:])
    assert record == json.loads((tmp_path / "out" / "pretraining.json").read_text())
    assert record["step"] == record["total_steps"] == 6 and record["command"] == "pretrain-elmo ..."
    assert record["dev_perplexity"] > 1 and record["settings"]["vocab_size"] <= 20
    # the commit that trained the weights, apart from the one that exported them
    from spacy_lm_suite.runs.provenance import git_commit

    assert record["suite_commits"] == ([git_commit()] if git_commit() else [])
    assert record["suite_commit"] == (git_commit() or None) and record["export_commit"] == git_commit()
    chars = batch_to_char_ids([["the", "dog", "."]])
    with torch.no_grad():
        assert torch.equal(load_elmo(tmp_path / "out")(*chars), load_elmo(runs / "finished")(*chars))


def test_export_refusals(runs, tmp_path):
    with pytest.raises(UserError, match="stopped at step 3 of 6"):
        export_encoder(runs / "unfinished", tmp_path / "a")
    assert not (tmp_path / "a").exists()
    assert export_encoder(runs / "unfinished", tmp_path / "a", allow_unfinished=True, include_vocab=True)["step"] == 3
    assert (tmp_path / "a" / "vocab.json").is_file()
    with pytest.raises(UserError, match="not empty"):
        export_encoder(runs / "finished", tmp_path / "a")
    assert export_encoder(runs / "finished", tmp_path / "a", overwrite=True)["step"] == 6
    assert not (tmp_path / "a" / "vocab.json").exists()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="holds no output of spacy-lm-suite"):
        export_encoder(runs / "finished", tmp_path / "other", overwrite=True)
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"
    with pytest.raises(UserError, match="not a pretrain-elmo directory"):
        export_encoder(tmp_path / "a", tmp_path / "b")


def test_export_cli(runs, tmp_path, monkeypatch, capsys):
    for args, code in (([runs / "finished", tmp_path / "ok"], 0), ([runs / "unfinished", tmp_path / "no"], 1)):
        monkeypatch.setattr(sys, "argv", ["spacy-lm-suite", "export-elmo", *map(str, args)])
        with pytest.raises(SystemExit) as exit_info:
            main()
        assert exit_info.value.code == code
    output = capsys.readouterr()
    assert "Exported step 6" in output.out and "--resume" in output.out + output.err
    assert (tmp_path / "ok" / "weights.safetensors").is_file() and not (tmp_path / "no").exists()

"""``annotate``: shards equal ``nlp.pipe``, n_process, resume after a kill, bad input, the Ray path."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import spacy
from spacy.tokens import DocBin

from spacy_lm_suite.annotate import annotate
from spacy_lm_suite.annotate.ray_backend import BatchAnnotator
from spacy_lm_suite.annotate.shards import annotate_texts, join_parts
from spacy_lm_suite.cli import main
from spacy_lm_suite.data.rawtext import iter_texts
from spacy_lm_suite.errors import MissingExtraError, UserError
from spacy_lm_suite.runs import checkpoints, outputs
from spacy_lm_suite.runs.outputs import MANIFEST_FILE

REPO = Path(__file__).resolve().parents[1]
LIMIT = 120  # texts of the Gutenberg sample: shards of 50, 50, 20
SHARD = 50
PATTERNS = [{"label": "PERSON", "pattern": "Emma"}, {"label": "PERSON", "pattern": "Mr. Knightley"},
            {"label": "GPE", "pattern": "Highbury"}, {"label": "PERSON", "pattern": [{"LOWER": "harriet"}]}]


def make_pipeline(path: Path, patterns=PATTERNS) -> Path:
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns(patterns)
    nlp.to_disk(path)
    return path


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory) -> Path:
    return make_pipeline(tmp_path_factory.mktemp("pipeline") / "ruler")


@pytest.fixture(scope="module")
def corpus(assets_dir) -> Path:
    return assets_dir / "gutenberg" / "raw.txt"


def run(pipeline, corpus, out, **options):
    options = {"shard_size": SHARD, "limit": LIMIT, "progress": False, **options}
    return annotate(str(pipeline), corpus, out, **options)


def expected(pipeline, corpus, limit=LIMIT):
    nlp = spacy.load(pipeline)
    return [
        (doc.text, [(e.start_char, e.end_char, e.label_) for e in doc.ents])
        for doc in nlp.pipe(iter_texts(corpus, limit=limit))
    ]


def spacy_output(out: Path):
    vocab = spacy.blank("en").vocab
    docs = [doc for shard in sorted(out.glob("shard-*.spacy")) for doc in DocBin().from_disk(shard).get_docs(vocab)]
    return [(doc.text, [(e.start_char, e.end_char, e.label_) for e in doc.ents]) for doc in docs]


def jsonl_output(out: Path):
    return [json.loads(line) for shard in sorted(out.glob("shard-*.jsonl")) for line in shard.read_text().splitlines()]


def files_of(out: Path):
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.name.startswith("shard-")}


def test_spacy_shards_equal_nlp_pipe(pipeline, corpus, tmp_path):
    out = tmp_path / "out"
    summary = run(pipeline, corpus, out)
    assert (summary.docs, summary.shards, summary.resumed_shards) == (LIMIT, 3, 0)
    assert sorted(p.name for p in out.iterdir()) == [
        MANIFEST_FILE, "annotate.json", "shard-00000.spacy", "shard-00001.spacy", "shard-00002.spacy"]
    result = spacy_output(out)
    assert result == expected(pipeline, corpus)
    assert any(ents for _, ents in result)
    state = json.loads((out / "annotate.json").read_text())
    assert state["complete"] and [s["docs"] for s in state["shards"]] == [50, 50, 20]
    assert state["pipeline"]["path"] == str(pipeline.resolve())
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    assert manifest["command"] == "annotate" and len(manifest["files"]) == 4


def test_jsonl_shards_equal_nlp_pipe(pipeline, corpus, tmp_path):
    run(pipeline, corpus, tmp_path / "out", output_format="jsonl")
    records = jsonl_output(tmp_path / "out")
    assert [r["id"] for r in records] == list(range(LIMIT))
    got = [(r["text"], [(e["start"], e["end"], e["label"]) for e in r["ents"]]) for r in records]
    assert got == expected(pipeline, corpus)
    for record in records:
        assert record["cats"] == {} and "generated" not in record
        assert all(record["text"][e["start"]:e["end"]] == e["text"] for e in record["ents"])


def test_n_process_2_equals_1(pipeline, corpus, tmp_path):
    run(pipeline, corpus, tmp_path / "one", output_format="jsonl")
    run(pipeline, corpus, tmp_path / "two", output_format="jsonl", n_process=2, batch_size=8)
    assert files_of(tmp_path / "one") == files_of(tmp_path / "two")


class Killed(BaseException):
    """Stands for a kill: not an ``Exception``, so no handler of ours runs."""


@pytest.mark.parametrize("point", ["renamed:shard-00001.jsonl", "committed:shard-00000.jsonl"])
def test_resume_after_a_kill_between_shards_equals_an_uninterrupted_run(pipeline, corpus, tmp_path, monkeypatch, point):
    run(pipeline, corpus, tmp_path / "whole", output_format="jsonl")

    def fault(reached):
        if reached == point:
            raise Killed(reached)

    monkeypatch.setattr(checkpoints, "fault_hook", fault)
    with pytest.raises(Killed):
        run(pipeline, corpus, tmp_path / "cut", output_format="jsonl")
    monkeypatch.setattr(checkpoints, "fault_hook", None)
    assert not json.loads((tmp_path / "cut" / "annotate.json").read_text())["complete"]
    with pytest.raises(UserError, match="--resume continues"):
        run(pipeline, corpus, tmp_path / "cut", output_format="jsonl")
    summary = run(pipeline, corpus, tmp_path / "cut", output_format="jsonl", resume=True, n_process=2)
    assert summary.resumed_shards == 1 and summary.docs == LIMIT
    assert files_of(tmp_path / "cut") == files_of(tmp_path / "whole")
    again = run(pipeline, corpus, tmp_path / "cut", output_format="jsonl", resume=True)  # complete: nothing to do
    assert again.resumed_shards == 3


@pytest.mark.slow
def test_resume_after_sigkill_of_the_cli(pipeline, corpus, tmp_path):
    """A real ``kill -9`` right after shard 1 is renamed into place, before the state records it."""
    run(pipeline, corpus, tmp_path / "whole")
    out = tmp_path / "cut"
    args = [sys.executable, "-m", "spacy_lm_suite", "annotate", str(pipeline), str(corpus), str(out),
            "--shard-size", str(SHARD), "--limit", str(LIMIT), "--quiet"]
    env = {**os.environ, checkpoints.FAULT_ENV: "renamed:shard-00001.spacy"}
    killed = subprocess.run(args, env=env, cwd=REPO, capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert (out / "shard-00001.spacy").is_file()
    (out / ".shard-00002.spacy.x1y2.tmp.spacy").write_bytes(b"half")  # what a kill inside a write leaves
    done = subprocess.run(args + ["--resume"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "120 docs in 3 shard(s) (1 written earlier)" in " ".join(done.stdout.split())
    assert spacy_output(out) == spacy_output(tmp_path / "whole") == expected(pipeline, corpus)
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in (tmp_path / "whole").iterdir())


def test_resume_refuses_another_input_or_pipeline(pipeline, corpus, tmp_path):
    out = tmp_path / "out"
    run(pipeline, corpus, out, limit=70)
    other = make_pipeline(tmp_path / "other", patterns=PATTERNS[:1])
    with pytest.raises(UserError, match="another pipeline"):
        run(other, corpus, out, limit=70, resume=True)
    changed = tmp_path / "changed.txt"
    changed.write_text("Emma went to Highbury.\n")
    with pytest.raises(UserError, match="is not the one the run read"):
        run(pipeline, changed, out, limit=70, resume=True)
    with pytest.raises(UserError, match="limit = 70, not 80"):
        run(pipeline, corpus, out, limit=80, resume=True)
    with pytest.raises(UserError, match="shard_size = 50, not 10"):
        run(pipeline, corpus, out, limit=70, shard_size=10, resume=True)
    (out / "shard-00000.spacy").write_bytes(b"damaged")
    with pytest.raises(UserError, match="shard-00000.spacy: the shard is not the one annotate.json records"):
        run(pipeline, corpus, out, limit=70, resume=True)
    summary = run(pipeline, corpus, out, limit=70, overwrite=True)
    assert summary.resumed_shards == 0 and spacy_output(out) == expected(pipeline, corpus, limit=70)


def snapshot(root: Path):
    return {p.relative_to(root).as_posix(): p.read_bytes() if p.is_file() else None for p in sorted(root.rglob("*"))}


def test_bad_input_fails_before_writing(pipeline, corpus, tmp_path, monkeypatch):
    before = snapshot(tmp_path)
    not_a_pipeline = tmp_path / "not-a-pipeline"
    not_a_pipeline.mkdir()
    (not_a_pipeline / "config.cfg").write_text("[nlp]\n")
    with pytest.raises(UserError, match="not a spaCy pipeline folder \\(no meta.json\\)"):
        run(not_a_pipeline, corpus, tmp_path / "out")
    with pytest.raises(UserError, match="no such pipeline folder, and no installed pipeline package"):
        run(tmp_path / "missing", corpus, tmp_path / "out")
    with pytest.raises(UserError, match="is a file; expected a spaCy pipeline folder"):
        run(corpus, corpus, tmp_path / "out")
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    with pytest.raises(UserError, match="exists and is not a folder"):
        run(pipeline, corpus, a_file)
    with pytest.raises(UserError, match="is a file, not a folder"):
        run(pipeline, corpus, a_file / "out")
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(outputs.os, "access", lambda p, m: False if Path(p) == locked else real_access(p, m))
    with pytest.raises(UserError, match="cannot write in the output folder"):
        run(pipeline, corpus, locked)
    monkeypatch.undo()
    blank = tmp_path / "blank.txt"
    blank.write_text("\n  \n\n")
    with pytest.raises(UserError, match="no text found"):
        run(pipeline, blank, tmp_path / "out")
    monkeypatch.setitem(sys.modules, "ray", None)  # not importable, whether or not it is installed
    with pytest.raises(MissingExtraError, match=r'pip install "spacy-lm-suite\[distributed\]"'):
        run(pipeline, corpus, tmp_path / "out", ray=True)
    with pytest.raises(MissingExtraError, match="distributed"):
        run(pipeline, corpus, tmp_path / "out", ray_address="auto")
    for option, value in [("shard_size", 0), ("batch_size", 0), ("n_process", 0), ("limit", -1), ("output_format", "csv")]:
        with pytest.raises(UserError):
            run(pipeline, corpus, tmp_path / "out", **{option: value})
    assert snapshot(tmp_path) == before | {"not-a-pipeline": None, "not-a-pipeline/config.cfg": b"[nlp]\n",
                                            "a-file": b"x", "locked": None, "blank.txt": b"\n  \n\n"}


def test_refuses_a_folder_that_is_not_ours(pipeline, corpus, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    for resume in (False, True):
        with pytest.raises(UserError, match="holds no output of spacy-lm-suite"):
            run(pipeline, corpus, tmp_path, resume=resume)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_cli(pipeline, corpus, tmp_path, monkeypatch, capsys):
    def cli(*args):
        monkeypatch.setattr(sys, "argv", ["spacy-lm-suite", "annotate", *map(str, args)])
        with pytest.raises(SystemExit) as exit_info:
            main()
        captured = capsys.readouterr()
        return exit_info.value.code, " ".join((captured.out + captured.err).split())

    code, text = cli(pipeline, corpus, tmp_path / "out", "--output-format", "jsonl", "--limit", 30, "--shard-size", 20, "-q")
    assert code in (0, None) and "30 docs in 2 shard(s)" in text
    code, text = cli(pipeline, corpus, tmp_path / "out2", "--output-format", "csv")
    assert code == 1 and "--output-format: expected one of spacy, jsonl" in text
    code, text = cli(tmp_path, corpus, tmp_path / "out3")
    assert code == 1 and "not a spaCy pipeline folder" in text and not (tmp_path / "out3").exists()


def test_a_generator_pipeline_writes_its_generated_text(corpus, tmp_path, one_torch_thread):
    """An ``lm_generator`` pipeline (a tiny random GPT-2 built in-process, greedy): ``generated`` in each
    JSONL record and ``doc._.generated`` in the ``.spacy`` shards, both equal to ``nlp.pipe``."""
    from spacy_lm_suite.generation.tiny import build_tiny_causal_lm

    nlp = spacy.blank("en")
    config = {"model": str(build_tiny_causal_lm(tmp_path / "gpt2")), "truncation": "left", "batch_size": 4,
              "decoding": {"max_new_tokens": 8}}
    nlp.add_pipe("lm_generator", config=config)
    nlp.initialize()
    nlp.to_disk(tmp_path / "generator")
    limit = 12  # shards of 5, 5, 2
    want = [(doc.text, doc._.generated) for doc in spacy.load(tmp_path / "generator").pipe(iter_texts(corpus, limit=limit))]
    assert len(want) == limit and all(isinstance(text, str) for _, text in want) and any(text for _, text in want)

    run(tmp_path / "generator", corpus, tmp_path / "jsonl", output_format="jsonl", limit=limit, shard_size=5, batch_size=4)
    records = jsonl_output(tmp_path / "jsonl")
    assert [r["id"] for r in records] == list(range(limit))
    assert [(r["text"], r["generated"]) for r in records] == want
    assert all(r["ents"] == [] and r["cats"] == {} for r in records)

    run(tmp_path / "generator", corpus, tmp_path / "spacy", output_format="spacy", limit=limit, shard_size=5, batch_size=4)
    vocab = spacy.blank("en").vocab
    shards = sorted((tmp_path / "spacy").glob("shard-*.spacy"))
    docs = [doc for shard in shards for doc in DocBin().from_disk(shard).get_docs(vocab)]
    assert len(shards) == 3 and [(doc.text, doc._.generated) for doc in docs] == want


def test_ray_batch_annotator_parts_join_into_the_local_shard(pipeline, corpus):
    """What each Ray actor does, without Ray: consecutive batches, joined in order."""
    import numpy

    texts = list(iter_texts(corpus, limit=30))
    nlp = spacy.load(pipeline)
    for output_format in ("jsonl", "spacy"):
        actor = BatchAnnotator(pipeline=str(pipeline), output_format=output_format, generated=False)
        parts = []
        for start in range(0, 30, 8):
            batch = {"index": numpy.arange(100 + start, 100 + min(start + 8, 30)), "text": numpy.array(texts[start:start + 8], dtype=object)}
            row = actor(batch)
            parts.append((int(row["first"][0]), row["part"][0]))
        joined = join_parts([part for _, part in sorted(parts, reverse=False)], output_format=output_format)
        local = annotate_texts(nlp, texts, first=100, output_format=output_format, generated=False, batch_size=8)
        if output_format == "jsonl":
            assert joined == local
        else:
            vocab = spacy.blank("en").vocab
            docs = lambda data: [(d.text, [(e.start_char, e.end_char, e.label_) for e in d.ents]) for d in DocBin().from_bytes(data).get_docs(vocab)]
            assert docs(joined) == docs(local)


@pytest.mark.slow
def test_ray_path_equals_single_process(pipeline, corpus, tmp_path):
    try:
        import ray  # noqa: F401
        import ray.data  # noqa: F401
    except ImportError:
        pytest.skip('ray[data] is not installed (the optional extra: pip install "spacy-lm-suite[distributed]")')
    run(pipeline, corpus, tmp_path / "local", output_format="jsonl")
    try:
        ray.init(num_cpus=2, include_dashboard=False)
        run(pipeline, corpus, tmp_path / "ray", output_format="jsonl", ray=True, n_process=2, batch_size=16)
    finally:
        ray.shutdown()
    assert files_of(tmp_path / "ray") == files_of(tmp_path / "local")

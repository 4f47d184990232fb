"""Fine-tuned transformer (MiniLM-L6 by default) NER and textcat with plain ``spacy train``.

Systems (configs/ner_minilm.cfg; the same for textcat when its config exists):
  minilm         the encoder with its own optimizer (5e-5, warm-up + linear decay),
                 the NER head on spaCy's global one (1e-3, same schedule): the configs' default
  minilm-global  spacy-transformers' setting: one 5e-5 schedule for encoder and head
Each run leaves training/<benchmark>/<run>/model-best and prints the command that made it.

    python benchmarks/transformer_downstream.py --seeds 0 --max-steps 500 --jobs 2
"""

import argparse
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from spacy_runs import METRIC, summarize, train_jobs, write_results  # noqa: E402

SYSTEMS = {
    "minilm": ("ner_minilm.cfg", []),
    "minilm-global": ("ner_minilm.cfg", ["--vars.head_lr", "5e-5"]),
}


def minilm_folder() -> str:
    return subprocess.run(
        [sys.executable, str(REPO / "scripts" / "minilm_path.py")], check=True, capture_output=True, text=True
    ).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--transformer", default=None, help="HF model folder (default: the shipped MiniLM)")
    parser.add_argument("--output", type=Path, default=REPO / "metrics" / "transformer")
    parser.add_argument("--training-dir", type=Path, default=REPO / "training" / "transformer")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--max-steps", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=2, help="trainings run at once (one core each)")
    parser.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=list(SYSTEMS))
    args = parser.parse_args()
    conll = args.datasets / "conll2003"
    for needed in (conll / "train.txt", conll / "dev.txt"):
        if not needed.exists():
            sys.exit(f"missing {needed}: pass --datasets pointing at the shared datasets folder")
    transformer = args.transformer or minilm_folder()
    args.output.mkdir(parents=True, exist_ok=True)
    args.training_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    jobs = []
    for seed in args.seeds:
        for system in args.systems:
            config, extra = SYSTEMS[system]
            overrides = [
                "--paths.train", str(conll / "train.txt"), "--paths.dev", str(conll / "dev.txt"),
                "--paths.transformer", transformer, "--system.seed", str(seed),
                "--vars.max_steps", str(args.max_steps), *extra,
            ]
            output = args.training_dir / f"ner-{system}-seed{seed}"
            print("python -m spacy train", f"configs/{config}", "--output", output, *overrides, flush=True)
            jobs.append(("ner", system, seed, REPO / "configs" / config, output, overrides))
    results = train_jobs(jobs, parallel=args.jobs)
    summary = {}
    for system in args.systems:
        values = [100 * perf[METRIC["ner"]] for _, s, _, perf in results if s == system]
        seconds = [perf["seconds"] for _, s, _, perf in results if s == system and perf["seconds"]]
        summary[system] = {**summarize(values), "train_seconds": seconds}
    report = {"max_steps": args.max_steps, "seeds": args.seeds, "transformer": transformer, "results": summary,
              "seconds": time.time() - started, "jobs": args.jobs}
    lines = [f"CoNLL-2003 dev F1, {args.max_steps} steps, seeds {args.seeds}, {args.jobs} runs at a time", "",
             "| system | F1 | per seed |", "| --- | --- | --- |"]
    for system, row in summary.items():
        lines.append(f"| {system} | {row['mean']:.2f} ± {row['std']:.2f} | {', '.join(f'{v:.2f}' for v in row['values'])} |")
    write_results(args.output, lines, report)


if __name__ == "__main__":
    main()

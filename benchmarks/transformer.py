"""Transformer inference in spaCy: ours (fp32, int8) vs a raw HF forward vs spacy-transformers, same MiniLM.

One run measures every system on the same docs (the first N sentences of
CoNLL-2003 dev, as text, so spaCy tokenization is included), each repeat in a
fresh worker process, the systems interleaved, one torch thread each; medians.

  raw                 HF fast tokenizer + length-sorted batches of at most 4096
                      padded pieces (window 128; a row under 3/4 of its batch's longest
                      starts a new batch, as ours does), ``model(...)`` under inference_mode
  ours-fp32           spacy.blank + lm_transformer (frozen, doc.tensor = last layer)
  ours-int8           the same with quantize = "int8"
  spacy-transformers  spacy.blank + spacy-transformers' ``transformer`` (strided spans
                      128/96), in the peer venv (``--peer-python``, default .venv-peer)

It also reports the int8 cost (token-vector cosine to fp32, mean and min) and
memory: peak RSS while streaming CoNLL-2003 train sentences 1-10,000 through
``nlp.pipe`` inside ``nlp.memory_zone()``, and growth per 1,000 docs kept in a list.

    python benchmarks/transformer.py --sentences 2000 --repeats 3

Training speed (``--training-only``): optimizer steps/s and training words/s of NER
fine-tuning, spaCy's own update loop (``nlp.update`` + ``finish_update`` +
``step_schedules``, as ``spacy train`` runs it) over the first CoNLL-2003 train batches
in file order (the same batches for every system: ``batch_by_padded`` 2000, buffer
256), ``--train-warmup`` steps untimed, then ``--train-steps`` timed; each repeat a
fresh process, systems interleaved, medians:

  ours             configs/ner_minilm.cfg (encoder on its own optimizer)
  ours-aux         the same with the auxiliary masked-LM loss (aux_weight 0.1)
  spacy-transformers  benchmarks/configs/ner_spacy_transformers.cfg (same head, batches, windows)

    python benchmarks/transformer.py --training-only --repeats 2
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SYSTEMS = ("raw", "ours-fp32", "ours-int8", "spacy-transformers")


def read_texts(path: Path, n: int, *, skip: int = 0):
    sys.path.insert(0, str(REPO))
    from spacy_lm_suite.data.conll import read_conll2003

    sentences = list(read_conll2003(path))[skip : skip + n]
    return [" ".join(s.words) for s in sentences]


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def build(system: str, model_dir: str):
    import spacy

    if system == "blank":
        return spacy.blank("en")
    if system == "spacy-transformers":
        nlp = spacy.blank("en")
        nlp.add_pipe("transformer", config={"model": {
            "@architectures": "spacy-transformers.TransformerModel.v3", "name": model_dir,
            "tokenizer_config": {"use_fast": True},
            "get_spans": {"@span_getters": "spacy-transformers.strided_spans.v1", "window": 128, "stride": 96},
        }})
        nlp.initialize()
        return nlp
    quantize = "int8" if system == "ours-int8" else None
    nlp = spacy.blank("en")
    nlp.add_pipe("lm_transformer", config={"model": {"name": model_dir, "grad": False, "quantize": quantize}})
    nlp.initialize()
    return nlp


def raw_forward(model_dir: str, texts, *, max_batch_pieces: int = 4096, window: int = 128):
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir, use_safetensors=True).eval()

    def run(batch_texts):
        encoded = tokenizer(batch_texts, truncation=True, max_length=window + 2)["input_ids"]
        order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
        outputs = [None] * len(encoded)
        start = 0
        with torch.inference_mode():
            while start < len(order):
                width = len(encoded[order[start]])
                rows = max(1, max_batch_pieces // width)
                chunk = [i for i in order[start : start + rows] if len(encoded[i]) >= 0.75 * width] or order[start : start + 1]
                ids = torch.zeros((len(chunk), width), dtype=torch.long)
                mask = torch.zeros_like(ids)
                for r, i in enumerate(chunk):
                    ids[r, : len(encoded[i])] = torch.tensor(encoded[i])
                    mask[r, : len(encoded[i])] = 1
                hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state
                for r, i in enumerate(chunk):
                    outputs[i] = hidden[r, : len(encoded[i])].numpy()
                start += len(chunk)
        return outputs

    return run


def worker(args) -> None:
    import torch

    torch.set_num_threads(args.threads)
    texts = read_texts(args.conll / "dev.txt", args.sentences)
    words = sum(len(t.split()) for t in texts)
    if args.worker == "raw":
        run = raw_forward(args.model, texts)
        run(texts[:200])
        started = time.perf_counter()
        run(texts)
    else:
        nlp = build(args.worker, args.model)
        list(nlp.pipe(texts[:200], batch_size=args.batch_size))
        started = time.perf_counter()
        for _ in nlp.pipe(texts, batch_size=args.batch_size):
            pass
    seconds = time.perf_counter() - started
    print(json.dumps({"system": args.worker, "words": words, "seconds": seconds, "words_per_second": words / seconds,
                      "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def memory_worker(args) -> None:
    """``--memory-worker SYSTEM --memory-part stream|keep``: each part in its own process,
    so the allocator's reuse of one part's pages cannot hide the other's growth."""
    import torch

    torch.set_num_threads(args.threads)
    texts = read_texts(args.conll / "train.txt", 10_000)
    nlp = build(args.memory_worker, args.model)
    list(nlp.pipe(texts[:200], batch_size=args.batch_size))  # warm up: first-batch allocations
    base = rss_mib()
    if args.memory_part == "stream":
        streamed = []
        for start in range(0, len(texts), 2000):
            # one zone per 2,000 docs: outside a zone spaCy's StringStore grows whatever the component does
            with nlp.memory_zone():
                for _doc in nlp.pipe(texts[start : start + 2000], batch_size=args.batch_size):
                    pass
            streamed.append(rss_mib() - base)
        result = {"streamed_rss_growth_mib": streamed}
    else:
        kept = list(nlp.pipe(texts[:3000], batch_size=args.batch_size))
        tokens = sum(len(d) for d in kept)
        floor = tokens * 384 * 4 / 2**20
        result = {"kept_mib_per_1000_docs": (rss_mib() - base) / len(kept) * 1000,
                  "tensor_floor_mib_per_1000_docs": floor / len(kept) * 1000}
    print(json.dumps({"system": args.memory_worker, "part": args.memory_part, **result}))


TRAIN_SYSTEMS = ("ours", "ours-aux", "spacy-transformers")


def train_setup(system: str, args):
    """The config and overrides of a training-speed system."""
    docbins = REPO / "training" / "transformer"
    if system == "spacy-transformers":
        data = [docbins / "conll2003-train.spacy", docbins / "conll2003-dev.spacy"]
        config = REPO / "benchmarks" / "configs" / "ner_spacy_transformers.cfg"
    else:
        data = [args.conll / "train.txt", args.conll / "dev.txt"]
        config = REPO / "configs" / "ner_minilm.cfg"
    overrides = {"paths.train": str(data[0]), "paths.dev": str(data[1]), "paths.transformer": args.model,
                 "vars.max_steps": 1000}
    if system == "ours-aux":
        overrides["vars.aux_weight"] = 0.1
    return config, overrides


def train_worker(args) -> None:
    """Time spaCy's update loop (as ``spacy.training.loop.train_while_improving`` runs it)."""
    from itertools import islice

    import torch
    from spacy import util
    from spacy.schemas import ConfigSchemaTraining
    from spacy.training.initialize import init_nlp

    torch.set_num_threads(args.threads)
    config_path, overrides = train_setup(args.train_worker, args)
    config = util.load_config(config_path, overrides=overrides, interpolate=False)
    nlp = init_nlp(config)
    resolved = nlp.config.interpolate()
    T = util.registry.resolve(resolved["training"], schema=ConfigSchemaTraining)
    (train_corpus,) = util.resolve_dot_names(resolved, [T["train_corpus"]])
    optimizer, batcher = T["optimizer"], T["batcher"]
    seconds, words = [], []
    for step, batch in enumerate(islice(batcher(train_corpus(nlp)), args.train_warmup + args.train_steps)):
        started = time.perf_counter()
        nlp.update(batch, drop=T["dropout"], losses={}, sgd=False, annotates=T["annotating_components"])
        for _name, proc in nlp.pipeline:
            if getattr(proc, "is_trainable", False) and proc.model not in (True, False, None):
                proc.finish_update(optimizer)
        optimizer.step_schedules()
        if step >= args.train_warmup:
            seconds.append(time.perf_counter() - started)
            words.append(sum(len(eg.reference) for eg in batch))
    total = sum(seconds)
    print(json.dumps({"system": args.train_worker, "steps": len(seconds), "seconds": total, "words": sum(words),
                      "steps_per_second": len(seconds) / total, "words_per_second": sum(words) / total,
                      "batch_words": words}))


def training_speed(args) -> dict:
    systems = [s for s in TRAIN_SYSTEMS if s in args.train_systems]
    common = ["--model", args.model, "--datasets", str(args.datasets), "--threads", str(args.threads),
              "--train-steps", str(args.train_steps), "--train-warmup", str(args.train_warmup)]
    runs = {system: [] for system in systems}
    for repeat in range(args.repeats):
        order = systems[repeat % len(systems):] + systems[: repeat % len(systems)]
        for system in order:
            python = args.peer_python if system == "spacy-transformers" else sys.executable
            result = call(python, ["--train-worker", system, *common])
            runs[system].append(result)
            print(f"repeat {repeat + 1} {system}: {result['steps_per_second']:.3f} steps/s, "
                  f"{result['words_per_second']:.0f} words/s", flush=True)
    batches = {system: rs[0]["batch_words"] for system, rs in runs.items()}
    same = len({tuple(b) for b in batches.values()}) == 1
    median = {system: {key: statistics.median(r[key] for r in rs) for key in ("steps_per_second", "words_per_second")}
              for system, rs in runs.items()}
    peer = median.get("spacy-transformers")
    lines = [f"NER fine-tuning speed, MiniLM-L6, CoNLL-2003 train batches (batch_by_padded 2000), "
             f"{args.train_warmup} warm-up + {args.train_steps} timed steps, {args.threads} torch thread(s), "
             f"median of {args.repeats}; same batches for every system: {same}", "",
             "| system | steps/s | words/s | vs spacy-transformers |", "| --- | --- | --- | --- |"]
    for system, row in median.items():
        ratio = f"{row['steps_per_second'] / peer['steps_per_second']:.2f}x" if peer else "n/a"
        lines.append(f"| {system} | {row['steps_per_second']:.3f} | {row['words_per_second']:,.0f} | {ratio} |")
    return {"runs": runs, "median": median, "same_batches": same, "table": "\n".join(lines)}


def int8_cosines(model_dir: str, texts):
    import numpy
    import torch

    torch.set_num_threads(1)
    fp32, int8 = build("ours-fp32", model_dir), build("ours-int8", model_dir)
    cosines = []
    for a, b in zip(fp32.pipe(texts), int8.pipe(texts)):
        x, y = a.tensor, b.tensor
        cosines.extend((x * y).sum(1) / (numpy.linalg.norm(x, axis=1) * numpy.linalg.norm(y, axis=1) + 1e-12))
    return float(numpy.mean(cosines)), float(numpy.min(cosines))


def call(python: str, argv) -> dict:
    out = subprocess.run([python, __file__, *argv], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"worker {argv} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--model", default=None, help="HF model folder (default: the shipped MiniLM)")
    parser.add_argument("--sentences", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=1000, help="nlp.pipe batch size (spaCy's default)")
    parser.add_argument("--peer-python", default=str(REPO / ".venv-peer" / "bin" / "python"))
    parser.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=SYSTEMS)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--output", type=Path, default=REPO / "metrics" / "transformer-inference.json")
    parser.add_argument("--worker", choices=SYSTEMS, help=argparse.SUPPRESS)
    parser.add_argument("--memory-worker", choices=(*SYSTEMS, "blank"), help=argparse.SUPPRESS)
    parser.add_argument("--memory-part", choices=("stream", "keep"), default="stream", help=argparse.SUPPRESS)
    parser.add_argument("--memory-only", action="store_true", help="only the memory part")
    parser.add_argument("--training-only", action="store_true", help="only the training-speed part")
    parser.add_argument("--train-systems", nargs="+", default=list(TRAIN_SYSTEMS), choices=TRAIN_SYSTEMS)
    parser.add_argument("--train-steps", type=int, default=20, help="timed training steps")
    parser.add_argument("--train-warmup", type=int, default=5, help="untimed training steps first")
    parser.add_argument("--train-worker", choices=TRAIN_SYSTEMS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.conll = args.datasets / "conll2003"
    if args.model is None:
        args.model = subprocess.run([sys.executable, str(REPO / "scripts" / "minilm_path.py")], check=True,
                                    capture_output=True, text=True).stdout.strip()
    if args.worker:
        return worker(args)
    if args.memory_worker:
        return memory_worker(args)
    if args.train_worker:
        return train_worker(args)
    if args.training_only:
        if "spacy-transformers" in args.train_systems and not Path(args.peer_python).exists():
            sys.exit(f"{args.peer_python}: no peer venv; make it with `make peer-venv` or pass --train-systems without it")
        if "spacy-transformers" in args.train_systems and not (REPO / "training" / "transformer" / "conll2003-train.spacy").exists():
            sys.exit("no training/transformer/conll2003-train.spacy: run benchmarks/transformer_downstream.py "
                     "--systems spacy-transformers once, or `python -m spacy_lm_suite convert` the CoNLL files there")
        report = {**training_speed(args), "load_average_at_end": os.getloadavg()}
        print(report["table"])
        output = args.output.with_name("transformer-training.json")
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(report, indent=2))
        return None
    if "spacy-transformers" in args.systems and not Path(args.peer_python).exists():
        sys.exit(f"{args.peer_python}: no peer venv; make it with `make peer-venv` or pass --systems without spacy-transformers")
    common = ["--model", args.model, "--datasets", str(args.datasets), "--sentences", str(args.sentences),
              "--threads", str(args.threads), "--batch-size", str(args.batch_size)]
    runs = {system: [] for system in args.systems}
    for repeat in range(0 if args.memory_only else args.repeats):
        order = args.systems[repeat % len(args.systems):] + args.systems[: repeat % len(args.systems)]
        for system in order:
            python = args.peer_python if system == "spacy-transformers" else sys.executable
            result = call(python, ["--worker", system, *common])
            runs[system].append(result)
            print(f"repeat {repeat + 1} {system}: {result['words_per_second']:.0f} words/s", flush=True)
    report = {"sentences": args.sentences, "repeats": args.repeats, "threads": args.threads, "runs": runs,
              "load_average_at_end": os.getloadavg()}
    median = {s: statistics.median(r["words_per_second"] for r in rs) for s, rs in runs.items() if rs}
    report["median_words_per_second"] = median
    if {"ours-fp32", "ours-int8"} <= set(args.systems) and not args.memory_only:
        report["int8_cosine_mean_min"] = int8_cosines(args.model, read_texts(args.conll / "dev.txt", 500))
    if not args.skip_memory:
        report["memory"] = {}
        for system in ("ours-fp32", "spacy-transformers"):
            if system in args.systems:
                python = args.peer_python if system == "spacy-transformers" else sys.executable
                stream = call(python, ["--memory-worker", system, "--memory-part", "stream", *common])
                keep = call(python, ["--memory-worker", system, "--memory-part", "keep", *common])
                report["memory"][system] = {**stream, **keep}
        blank = call(sys.executable, ["--memory-worker", "blank", "--memory-part", "keep", *common])
        report["memory"]["blank_doc_mib_per_1000_docs"] = blank["kept_mib_per_1000_docs"]
    lines = [f"MiniLM-L6, first {args.sentences:,} CoNLL-2003 dev sentences, {args.threads} torch thread(s), "
             f"median of {args.repeats} interleaved repeats", "",
             "| system | words/s | vs raw forward | vs spacy-transformers |", "| --- | --- | --- | --- |"]
    for system, value in median.items():
        vs_raw = f"{value / median['raw']:.2f}x" if "raw" in median else "n/a"
        vs_peer = f"{value / median['spacy-transformers']:.2f}x" if "spacy-transformers" in median else "n/a"
        lines.append(f"| {system} | {value:,.0f} | {vs_raw} | {vs_peer} |")
    if "int8_cosine_mean_min" in report:
        mean, low = report["int8_cosine_mean_min"]
        lines.append(f"\nint8 vs fp32 token vectors (500 dev sentences): cosine mean {mean:.3f}, min {low:.3f}")
    memory = dict(report.get("memory", {}))
    blank_mib = memory.pop("blank_doc_mib_per_1000_docs", None)
    for system, mem in memory.items():
        floor = mem["tensor_floor_mib_per_1000_docs"] + (blank_mib or 0.0)
        lines.append(f"{system}: RSS growth while streaming 10k train sentences (per 2k): "
                     f"{', '.join(f'{m:.0f}' for m in mem['streamed_rss_growth_mib'])} MiB; docs kept: "
                     f"{mem['kept_mib_per_1000_docs']:.1f} MiB per 1,000 (floor: blank Doc {blank_mib or 0:.1f} + "
                     f"doc.tensor {mem['tensor_floor_mib_per_1000_docs']:.1f} = {floor:.1f}; "
                     f"{mem['kept_mib_per_1000_docs'] / floor:.2f}x)")
    text = "\n".join(lines)
    print(text)
    report["table"] = text
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

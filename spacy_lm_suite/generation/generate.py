"""Batched and streamed generation with a loaded causal LM (HF ``generate``).

:class:`Generator` turns prompt token ids into :class:`Generation` results:

- a batch is one ``generate`` call: prompts left-padded to the longest (the
  attention mask hides the padding; transformers derives position ids from
  it, and the KV cache is used as usual), ``[batch, longest]`` ids in;
- :meth:`Generator.generate` sorts the prompts it is given by length (stable)
  and cuts them into batches of ``batch_size``, so similar lengths share a
  batch and little is padded; results come back in the input order;
- stop strings are checked after every step on each row's generated text
  (a row that hit one stops there, the others go on), then trimmed (see
  :mod:`.stopping`); a row's new token ids end at its eos token (kept) or at
  the token that completed the first stop string (kept); the padding HF
  writes after a row finished is not part of them;
- :meth:`Generator.stream` runs one prompt in a worker thread and yields text
  as it is produced, holding back what could still become a stop string.

Reproducibility: greedy results do not depend on the batch (up to float
noise: batched and single logits differ by ~5e-5, which can flip a near-tie
after many tokens). With ``do_sample`` each ``generate`` call is seeded from
``(seed, the batch's prompt ids in order)`` inside ``torch.random.fork_rng``
(torch's global RNG is left as it was): the same prompts in the same batch
give the same samples, a prompt batched with other prompts gives another.
"""

import hashlib
import os
import queue
import threading
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Union

from ..extras import ensure_torch, require

ensure_torch("generator")  # the clear "install the extra" error, before the imports below
require("transformers", "generator")

import torch
from transformers import StoppingCriteria, StoppingCriteriaList
from transformers.generation.streamers import BaseStreamer

from ..errors import UserError
from .loading import LoadedModel, load_causal_lm
from .prompts import PromptSettings, fit_to_context
from .quantize import quantize_int8
from .settings import DecodingSettings, check_quantize, check_threads
from .stopping import StopStringStream, find_stop, trim_at_stop

FINISH_REASONS = ("stop", "length")


@dataclass
class Generation:
    """One prompt's result.

    text: the generated text, without special tokens, ending right before the first stop string.
    prompt_length: prompt tokens given to the model (after any truncation).
    new_token_ids: the tokens the model produced, including a final eos or
        the tokens spelling the stop string; not the padding after it finished.
    finish_reason: ``"stop"`` (eos or a stop string) or ``"length"`` (``max_new_tokens``).
    seconds: wall time of the ``generate`` call that produced it (shared by its batch).
    """

    text: str
    prompt_length: int
    new_token_ids: List[int]
    finish_reason: str
    seconds: float

    def to_dict(self) -> Dict[str, Any]:
        """Everything but the text, JSON/msgpack-able (lists, not tuples)."""
        return {
            "prompt_length": self.prompt_length,
            "new_token_ids": list(self.new_token_ids),
            "finish_reason": self.finish_reason,
            "seconds": self.seconds,
        }


@dataclass(frozen=True)
class WeightsSource:
    """Where the float weights came from, to save them again after int8 quantization."""

    folder: Path
    gguf_file: Optional[str]
    dtype: str


class Generator:
    """A causal LM and tokenizer that turn prompt ids into :class:`Generation` results.

    quantize: ``"int8"`` quantizes the linear layers before the first generation
        (:mod:`.quantize`); the float weights are what :meth:`save` writes.
    threads: torch threads during generation (``None``: leave torch's setting).
    source: where the weights were loaded from (needed to save an int8 model).
    """

    def __init__(
        self,
        loaded: LoadedModel,
        *,
        quantize: Optional[str] = None,
        threads: Optional[int] = None,
        source: Optional[WeightsSource] = None,
    ) -> None:
        self.loaded = loaded
        dtype = str(next(loaded.model.parameters()).dtype).replace("torch.", "")
        self.quantize = check_quantize(quantize, dtype=dtype)
        self.threads = check_threads(threads)
        self.source = source
        self.quantized = False
        self._lock = threading.Lock()

    @classmethod
    def load(
        cls,
        folder: Union[str, Path],
        *,
        gguf_file: Optional[str] = None,
        dtype: str = "float32",
        quantize: Optional[str] = None,
        threads: Optional[int] = None,
    ) -> "Generator":
        """Load a Hugging Face causal LM folder (see :func:`.loading.load_causal_lm`)."""
        check_quantize(quantize, dtype=dtype)
        with _torch_threads(threads):
            loaded = load_causal_lm(folder, gguf_file=gguf_file, dtype=dtype)
        source = WeightsSource(Path(folder).resolve(), gguf_file, dtype)
        return cls(loaded, quantize=quantize, threads=threads, source=source)

    @property
    def model(self) -> torch.nn.Module:
        return self.loaded.model

    @property
    def tokenizer(self) -> Any:
        return self.loaded.tokenizer

    @property
    def context_length(self) -> Optional[int]:
        return self.loaded.context_length

    @property
    def dtype(self) -> str:
        if self.quantized:
            return "float32"
        return str(next(self.model.parameters()).dtype).replace("torch.", "")

    def prepare(self) -> None:
        """Apply the int8 quantization now (otherwise done before the first generation)."""
        with self._lock:
            if self.quantize == "int8" and not self.quantized:
                quantize_int8(self.model)
                self.quantized = True

    def encode(self, text: str, prompt: PromptSettings, *, max_new_tokens: int) -> List[int]:
        """Prompt token ids of ``text``, fitted to the context (``prompt.truncation``)."""
        ids = prompt.encode(text, self.tokenizer)
        if not ids:
            raise UserError(f"empty prompt: {text!r} has no tokens")
        return fit_to_context(
            ids, context_length=self.context_length, max_new_tokens=max_new_tokens, truncation=prompt.truncation
        )

    def generate(
        self, prompts: Sequence[Sequence[int]], settings: DecodingSettings, *, batch_size: int = 8
    ) -> List[Generation]:
        """Results of ``prompts`` in their order, run in length-sorted batches of ``batch_size``."""
        results: List[Optional[Generation]] = [None] * len(prompts)
        for batch in length_sorted_batches([len(p) for p in prompts], batch_size=batch_size):
            for index, result in zip(batch, self.generate_batch([prompts[i] for i in batch], settings)):
                results[index] = result
        return [r for r in results if r is not None]

    def generate_batch(
        self,
        prompts: Sequence[Sequence[int]],
        settings: DecodingSettings,
        *,
        streamer: Optional[BaseStreamer] = None,
        cancel: Optional[threading.Event] = None,
    ) -> List[Generation]:
        """One ``generate`` call over ``prompts`` (token id lists), in this order.

        The model sees ``input_ids`` and ``attention_mask`` ``[batch, longest]``,
        left-padded; it returns ``[batch, longest + n_new]``, of which each row's
        real new tokens become one :class:`Generation` (in the order of ``prompts``).
        ``streamer`` (batch of one) receives the prompt, then every new token;
        ``cancel`` ends the generation at the next step once set.
        """
        if not prompts:
            return []
        self.prepare()
        loaded = self.loaded
        config = settings.generation_config(
            eos_token_ids=loaded.eos_token_ids, pad_token_id=loaded.pad_token_id, bos_token_id=loaded.bos_token_id
        )
        input_ids, attention_mask = left_pad(prompts, pad_token_id=loaded.pad_token_id)
        width = input_ids.shape[1]
        criteria = None
        if settings.stop or cancel is not None:
            criteria = StopStrings(
                self.tokenizer, prompt_width=width, stop=settings.stop, eos_token_ids=loaded.eos_token_ids, cancel=cancel
            )
        seed = batch_seed(settings.seed, prompts) if settings.do_sample and settings.seed is not None else None
        start = time.perf_counter()
        with torch.inference_mode(), _torch_threads(self.threads), _seeded(seed):
            output = self.model.generate(
                input_ids=input_ids,
                attention_mask=attention_mask,
                generation_config=config,
                use_model_defaults=False,  # our settings are the whole decoding, not the model's defaults
                stopping_criteria=StoppingCriteriaList([criteria]) if criteria is not None else None,
                streamer=streamer,
            )
        seconds = time.perf_counter() - start
        new = output[:, width:].tolist()
        return [
            self._result(
                row_ids,
                prompt_length=len(prompt),
                ended=criteria.ended.get(row) if criteria is not None else None,
                stop=settings.stop,
                seconds=seconds,
            )
            for row, (row_ids, prompt) in enumerate(zip(new, prompts))
        ]

    def stream(self, prompt: Sequence[int], settings: DecodingSettings) -> "GenerationStream":
        """Generate for one prompt, yielding text as it is produced (see :class:`GenerationStream`)."""
        return GenerationStream(self, list(prompt), settings)

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=True, clean_up_tokenization_spaces=False)

    def save(self, folder: Union[str, Path]) -> None:
        """Write the float weights (safetensors, in the model's dtype), config,
        generation config and tokenizer to ``folder``: a Hugging Face folder."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        model = self._float_model() if self.quantized else self.model
        model.save_pretrained(folder, safe_serialization=True)
        self.tokenizer.save_pretrained(folder)
        respect_umask(folder)

    def _float_model(self) -> torch.nn.Module:
        if self.source is None:
            raise UserError("cannot save an int8-quantized model whose float weights were not loaded from a folder")
        try:
            loaded = load_causal_lm(self.source.folder, gguf_file=self.source.gguf_file, dtype=self.source.dtype)
        except UserError as err:
            raise UserError(f"saving an int8 model re-reads its float weights, which failed: {err}") from None
        loaded.model.generation_config = self.model.generation_config
        return loaded.model

    def _result(
        self,
        ids: List[int],
        *,
        prompt_length: int,
        ended: Optional[int],
        stop: Sequence[str],
        seconds: float,
    ) -> Generation:
        eos = set(self.loaded.eos_token_ids)
        if ended is None:
            ended = next((i + 1 for i, token in enumerate(ids) if token in eos), len(ids))
        ids = ids[:ended]
        text, stopped = trim_at_stop(self.decode(ids), stop)
        finish = "stop" if stopped or (ids and ids[-1] in eos) else "length"
        return Generation(
            text=text, prompt_length=prompt_length, new_token_ids=ids, finish_reason=finish, seconds=seconds
        )


class StopStrings(StoppingCriteria):
    """Ends a row when its generated text contains a stop string (or ``cancel`` is set).

    ``ended[row]`` is the number of real new tokens of each row that finished
    (by a stop string or an eos token), recorded at the step it finished.
    """

    def __init__(
        self,
        tokenizer: Any,
        *,
        prompt_width: int,
        stop: Sequence[str],
        eos_token_ids: Sequence[int],
        cancel: Optional[threading.Event] = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.prompt_width = prompt_width
        self.stop = tuple(stop)
        self.eos = set(eos_token_ids)
        self.cancel = cancel
        self.ended: Dict[int, int] = {}

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        """``input_ids``: ``[batch, prompt_width + n_new]``; returns ``[batch]`` done flags."""
        batch = input_ids.shape[0]
        if self.cancel is not None and self.cancel.is_set():
            return torch.ones(batch, dtype=torch.bool)
        n_new = input_ids.shape[1] - self.prompt_width
        done = torch.zeros(batch, dtype=torch.bool)
        new = input_ids[:, self.prompt_width :]
        for row in range(batch):
            if row in self.ended:
                done[row] = True
                continue
            ids = new[row].tolist()
            if ids and ids[-1] in self.eos:
                self.ended[row] = n_new
                done[row] = True
            elif self.stop:
                text = self.tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)
                if find_stop(text, self.stop) is not None:
                    self.ended[row] = n_new
                    done[row] = True
        return done


class GenerationStream:
    """Iterate to get the text of one generation piece by piece, as it is produced.

    The pieces join to exactly ``result.text`` (trimmed at the first stop
    string; text that could still become one is held back until it cannot).
    After the iteration, ``result`` is the :class:`Generation` and
    ``first_token_seconds`` the time from the start to the first new token.
    Leaving the loop early stops the generation.
    """

    def __init__(self, generator: Generator, prompt: List[int], settings: DecodingSettings) -> None:
        self.generator = generator
        self.prompt = prompt
        self.settings = settings
        self.result: Optional[Generation] = None
        self.first_token_seconds: Optional[float] = None

    def __iter__(self) -> Iterator[str]:
        events: "queue.Queue[tuple]" = queue.Queue()
        cancel = threading.Event()
        streamer = _QueueStreamer(events)

        def run() -> None:
            try:
                (result,) = self.generator.generate_batch([self.prompt], self.settings, streamer=streamer, cancel=cancel)
                events.put(("done", result))
            except BaseException as err:  # re-raised in the consumer
                events.put(("error", err))

        start = time.perf_counter()
        worker = threading.Thread(target=run, name="lm-generator-stream", daemon=True)
        worker.start()
        text = StopStringStream(self.settings.stop)
        eos = set(self.generator.loaded.eos_token_ids)
        ids: List[int] = []
        ended = False
        try:
            while True:
                kind, value = events.get()
                if kind == "tokens":
                    if self.first_token_seconds is None:
                        self.first_token_seconds = time.perf_counter() - start
                    if ended:
                        continue
                    ids.extend(value)
                    if ids[-1] in eos:
                        ended = True
                    piece = text.update(self.generator.decode(ids))
                    if piece:
                        yield piece
                elif kind == "done":
                    self.result = value
                    piece = text.finish(value.text)
                    if piece:
                        yield piece
                    return
                elif kind == "error":
                    raise value
        finally:
            cancel.set()
            worker.join()


class _QueueStreamer(BaseStreamer):
    """Puts each new token (batch size 1) on a queue; skips the prompt HF sends first."""

    def __init__(self, events: "queue.Queue[tuple]") -> None:
        self.events = events
        self.prompt_seen = False

    def put(self, value: torch.Tensor) -> None:
        if not self.prompt_seen:
            self.prompt_seen = True
            return
        self.events.put(("tokens", value.reshape(-1).tolist()))

    def end(self) -> None:
        pass


def respect_umask(folder: Path) -> None:
    """Give ``folder`` and the files in it the modes the umask allows (safetensors
    writes its file ``0600``, which a packaged wheel would keep)."""
    mask = os.umask(0)
    os.umask(mask)
    folder.chmod(0o777 & ~mask)
    for path in folder.iterdir():
        if path.is_file():
            path.chmod(0o666 & ~mask)


def left_pad(prompts: Sequence[Sequence[int]], *, pad_token_id: int) -> "tuple[torch.Tensor, torch.Tensor]":
    """``input_ids`` and ``attention_mask``, both ``[batch, longest]``, padded on the left."""
    width = max(len(p) for p in prompts)
    input_ids = torch.full((len(prompts), width), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, prompt in enumerate(prompts):
        if prompt:
            input_ids[row, width - len(prompt) :] = torch.tensor(list(prompt), dtype=torch.long)
            attention_mask[row, width - len(prompt) :] = 1
    return input_ids, attention_mask


def length_sorted_batches(lengths: Sequence[int], *, batch_size: int) -> List[List[int]]:
    """Indices sorted by length (stable: ties keep their order), in chunks of ``batch_size``."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def batch_seed(seed: int, prompts: Sequence[Sequence[int]]) -> int:
    """A 63-bit seed from ``seed`` and the batch's prompt ids in order."""
    digest = hashlib.blake2b(digest_size=8)
    digest.update(int(seed).to_bytes(8, "little", signed=False))
    for prompt in prompts:
        digest.update(len(prompt).to_bytes(4, "little"))
        digest.update(b"".join(int(t).to_bytes(4, "little") for t in prompt))
    return int.from_bytes(digest.digest(), "little") >> 1


@contextmanager
def _seeded(seed: Optional[int]) -> Iterator[None]:
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _torch_threads(threads: Optional[int]):
    return nullcontext() if threads is None else _set_threads(threads)


@contextmanager
def _set_threads(threads: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)

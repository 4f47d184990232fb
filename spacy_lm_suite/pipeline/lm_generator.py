"""The ``lm_generator`` component: a causal LM's continuation of each doc, in ``doc._``.

Each doc's text becomes a prompt (as is, through a ``{text}`` template, or
as the user message of the tokenizer's chat template), the model generates
with the component's decoding settings, and the doc gets

- ``doc._.generated``: the generated text (``str``), ending before the first stop string;
- ``doc._.generation``: ``{"prompt_length": int, "new_token_ids": [int],
  "finish_reason": "stop" | "length", "seconds": float}``.

Both are extension values set on the doc, so they survive ``Doc.to_bytes``
and ``nlp.pipe(n_process=...)``.

``nlp.pipe`` reads ``sort_window`` docs at a time, sorts their prompts by
length and generates in batches of ``batch_size`` (left-padded); docs come
out in their input order. The ``batch_size`` argument of ``nlp.pipe`` does
not change the generation batches (spaCy passes its ``[nlp] batch_size``,
1000 by default, to every component).

Weights: ``model`` (any Hugging Face ``AutoModelForCausalLM`` folder, or the
folder of ``gguf_file``) is loaded in ``initialize`` (a GGUF file is
converted once, there); ``to_disk`` writes a Hugging Face folder
(``model.safetensors`` in ``dtype``, config, generation config, tokenizer)
that ``from_disk`` loads, so a packaged pipeline generates offline.
``quantize = "int8"`` quantizes at load, before the first generation, and is
never saved. See ``docs/generator.md``.

torch and transformers are imported only when a model is loaded: spaCy
imports this module (an entry point) in every ``Language()``.
"""

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Union

import srsly
from spacy.language import Language
from spacy.pipeline import Pipe
from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import ensure_path, minibatch
from spacy.vocab import Vocab
from thinc.api import Config

from ..errors import UserError
from ..generation.prompts import PromptSettings
from ..generation.settings import DecodingSettings, check_batching, check_dtype, check_quantize, check_threads

if TYPE_CHECKING:  # pragma: no cover
    from ..generation.generate import Generation, GenerationStream, Generator

DEFAULT_CONFIG = """
[lm_generator]
model = null
gguf_file = null
dtype = "float32"
threads = null
quantize = null
batch_size = 8
sort_window = 64
prompt_template = "{text}"
chat = false
system_prompt = null
truncation = "error"

[lm_generator.decoding]
max_new_tokens = 64
min_new_tokens = 0
do_sample = false
temperature = 1.0
top_k = 50
top_p = 1.0
repetition_penalty = 1.0
stop = []
seed = 0
"""
DEFAULT_GENERATOR = Config().from_str(DEFAULT_CONFIG)["lm_generator"]
MODEL_DIR = "model"
CFG_FILE = "cfg"


@Language.factory(
    "lm_generator",
    assigns=["doc._.generated", "doc._.generation"],
    default_config=DEFAULT_GENERATOR,
)
def make_lm_generator(
    nlp: Language,
    name: str,
    model: Optional[str],
    gguf_file: Optional[str],
    dtype: str,
    threads: Optional[int],
    quantize: Optional[str],
    batch_size: int,
    sort_window: int,
    prompt_template: str,
    chat: bool,
    system_prompt: Optional[str],
    truncation: str,
    decoding: Dict[str, Any],
) -> "LMGenerator":
    return LMGenerator(
        nlp.vocab,
        name=name,
        model=model,
        gguf_file=gguf_file,
        dtype=dtype,
        threads=threads,
        quantize=quantize,
        batch_size=batch_size,
        sort_window=sort_window,
        prompt=PromptSettings(template=prompt_template, chat=chat, system=system_prompt, truncation=truncation),
        decoding=DecodingSettings.from_dict(decoding),
    )


def install_extensions() -> None:
    """``Doc._.generated`` (``str``) and ``Doc._.generation`` (``dict``), both ``None`` until set."""
    for name in ("generated", "generation"):
        if not Doc.has_extension(name):
            Doc.set_extension(name, default=None)


class LMGenerator(Pipe):
    """Generate a continuation of every doc with a causal LM; see the module docstring.

    model, gguf_file: the Hugging Face folder (and GGUF file in it) that ``initialize`` loads.
    dtype: ``float32`` (default), ``bfloat16`` or ``float16``: computed and saved in it.
    threads: torch threads while generating (``None``: torch's setting).
    quantize: ``None`` or ``"int8"`` (dynamic, per-channel; needs ``float32``).
    batch_size: prompts per ``generate`` call; sort_window: docs sorted by prompt length together.
    """

    def __init__(
        self,
        vocab: Vocab,
        *,
        name: str = "lm_generator",
        model: Optional[Union[str, Path]] = None,
        gguf_file: Optional[str] = None,
        dtype: str = "float32",
        threads: Optional[int] = None,
        quantize: Optional[str] = None,
        batch_size: int = 8,
        sort_window: int = 64,
        prompt: Optional[PromptSettings] = None,
        decoding: Optional[DecodingSettings] = None,
    ) -> None:
        check_dtype(dtype)
        check_quantize(quantize, dtype=dtype)
        check_threads(threads)
        check_batching(batch_size=batch_size, sort_window=sort_window)
        self.vocab = vocab
        self.name = name
        self.model_path = None if model is None else str(model)
        self.gguf_file = gguf_file
        self.dtype = dtype
        self.threads = threads
        self.quantize = quantize
        self.batch_size = batch_size
        self.sort_window = sort_window
        self.prompt = prompt or PromptSettings()
        self.decoding = (decoding or DecodingSettings()).check()
        self._generator: Optional["Generator"] = None
        install_extensions()

    @property
    def generator(self) -> "Generator":
        """The loaded model (a :class:`~spacy_lm_suite.generation.Generator`)."""
        if self._generator is None:
            raise UserError(
                f"lm_generator {self.name!r} has no model yet: set its model (a Hugging Face folder) "
                "and run nlp.initialize(), or load a saved pipeline"
            )
        return self._generator

    @property
    def is_loaded(self) -> bool:
        return self._generator is not None

    def initialize(
        self,
        get_examples: Optional[Callable[[], Iterable[Example]]] = None,
        *,
        nlp: Optional[Language] = None,
        model: Optional[Union[str, Path]] = None,
        gguf_file: Optional[str] = None,
    ) -> None:
        """Load ``model`` (default: the component's ``model``), converting a GGUF file once.

        With neither, a model already loaded (``from_disk``) is kept.
        """
        from ..generation.generate import Generator

        if model is not None:
            self.model_path, self.gguf_file = str(model), gguf_file
        elif gguf_file is not None:
            self.gguf_file = gguf_file
        if self.model_path is None:
            if self._generator is not None:
                return
            raise UserError(
                f"lm_generator {self.name!r}: no model to load: set model = \"<Hugging Face folder>\" in "
                f"[components.{self.name}] (or [initialize.components.{self.name}])"
            )
        generator = Generator.load(
            self.model_path, gguf_file=self.gguf_file, dtype=self.dtype, quantize=self.quantize, threads=self.threads
        )
        if self.prompt.chat and not getattr(generator.tokenizer, "chat_template", None):
            raise UserError(f"{self.model_path}: the tokenizer has no chat template, so chat = true cannot work")
        self._generator = generator

    def __call__(self, doc: Doc) -> Doc:
        self._generate([doc])
        return doc

    def pipe(self, stream: Iterable[Doc], *, batch_size: int = 128) -> Iterator[Doc]:
        """Generate for ``sort_window`` docs at a time, in length-sorted batches of the
        component's ``batch_size`` (``batch_size`` here is spaCy's and is not used)."""
        error_handler = self.get_error_handler()
        for window in minibatch(stream, size=self.sort_window):
            try:
                self._generate(window)
            except Exception as err:
                error_handler(self.name, self, window, err)
            yield from window

    def predict(self, docs: Sequence[Doc]) -> List["Generation"]:
        """One :class:`~spacy_lm_suite.generation.Generation` per doc (in order)."""
        generator = self.generator
        max_new = self.decoding.max_new_tokens
        prompts = [generator.encode(doc.text, self.prompt, max_new_tokens=max_new) for doc in docs]
        return generator.generate(prompts, self.decoding, batch_size=self.batch_size)

    def set_annotations(self, docs: Sequence[Doc], generations: Sequence["Generation"]) -> None:
        for doc, generation in zip(docs, generations):
            doc._.generated = generation.text
            doc._.generation = generation.to_dict()

    def stream(
        self,
        text: str,
        *,
        prompt: Optional[PromptSettings] = None,
        decoding: Optional[DecodingSettings] = None,
    ) -> "GenerationStream":
        """Generate for ``text`` piece by piece (iterate it; ``.result`` afterwards);
        ``prompt``/``decoding`` replace the component's settings for this call."""
        prompt = prompt or self.prompt
        decoding = decoding or self.decoding
        ids = self.generator.encode(text, prompt, max_new_tokens=decoding.max_new_tokens)
        return self.generator.stream(ids, decoding)

    def _generate(self, docs: Sequence[Doc]) -> None:
        docs = list(docs)
        if docs:
            self.set_annotations(docs, self.predict(docs))

    def to_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = tuple()) -> None:
        """``cfg`` (JSON), and the model as a Hugging Face folder in ``model/`` if one is loaded."""
        path = ensure_path(path)
        path.mkdir(parents=True, exist_ok=True)
        loaded = self._generator is not None
        srsly.write_json(path / CFG_FILE, {"has_model": loaded, "dtype": self.dtype})
        if loaded:
            if (path / MODEL_DIR).exists():
                self._save_replacing(path / MODEL_DIR)
            else:
                self.generator.save(path / MODEL_DIR)

    def from_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = tuple()) -> "LMGenerator":
        from ..generation.generate import Generator

        path = ensure_path(path)
        if not (path / CFG_FILE).is_file():
            raise UserError(f"{path} is not a saved lm_generator (no {CFG_FILE} file)")
        cfg = srsly.read_json(path / CFG_FILE)
        if cfg.get("has_model"):
            self._generator = Generator.load(
                path / MODEL_DIR, dtype=self.dtype, quantize=self.quantize, threads=self.threads
            )
        return self

    def __reduce__(self):
        """Pickle through ``to_bytes`` (spawn/forkserver workers of ``nlp.pipe(n_process=...)``
        pickle every component; the loaded HF model holds locks that do not pickle)."""
        settings = {
            "name": self.name, "model": self.model_path, "gguf_file": self.gguf_file, "dtype": self.dtype,
            "threads": self.threads, "quantize": self.quantize, "batch_size": self.batch_size,
            "sort_window": self.sort_window, "prompt": self.prompt, "decoding": self.decoding,
        }
        return (_rebuild, (self.vocab, settings, self.to_bytes() if self.is_loaded else None))

    def to_bytes(self, *, exclude: Iterable[str] = tuple()) -> bytes:
        """The ``to_disk`` files in one msgpack blob (the weights included: large)."""
        with tempfile.TemporaryDirectory() as tmp:
            self.to_disk(tmp)
            root = Path(tmp)
            files = {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
        return srsly.msgpack_dumps(files)

    def from_bytes(self, bytes_data: bytes, *, exclude: Iterable[str] = tuple()) -> "LMGenerator":
        files: Dict[str, bytes] = srsly.msgpack_loads(bytes_data)
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            for name, data in files.items():
                target = (root / name).resolve()
                if root.resolve() not in target.parents:
                    raise UserError(f"saved lm_generator bytes hold a path outside their folder: {name!r}")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            self.from_disk(root)
            if self._generator is not None:  # loaded from the temporary folder: keep no reference to it
                self._generator.source = None
        return self

    def _save_replacing(self, target: Path) -> None:
        """Save over an existing ``model/`` (maybe the one we were loaded from) via a sibling folder."""
        staging = Path(tempfile.mkdtemp(prefix=".model-", dir=target.parent))
        try:
            self.generator.save(staging)
            shutil.rmtree(target)
            staging.rename(target)
        finally:
            if staging.exists():
                shutil.rmtree(staging)


def _rebuild(vocab: Vocab, settings: Dict[str, Any], data: Optional[bytes]) -> LMGenerator:
    component = LMGenerator(vocab, **settings)
    return component.from_bytes(data) if data is not None else component

"""``generate``: stream a causal LM's continuation of a prompt to stdout."""

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

import typer
from wasabi import msg

from . import app, choice_option
from ..errors import UserError
from ..generation.settings import DTYPES, QUANTIZE  # pure Python: --help imports no torch

if TYPE_CHECKING:  # pragma: no cover
    from ..pipeline.lm_generator import LMGenerator


@app.command("generate")
def generate_command(
    model: str = typer.Argument(
        ...,
        metavar="MODEL",
        help="A saved spaCy pipeline (folder or package) with an lm_generator, or a Hugging Face causal LM folder",
        show_default=False,
    ),
    prompt: Optional[List[str]] = typer.Argument(
        None, metavar="[PROMPT]...", help="The prompt (words joined by spaces); none: read stdin", show_default=False
    ),
    lines: bool = typer.Option(False, "--lines", help="Each non-empty stdin line is a prompt of its own"),
    component: Optional[str] = typer.Option(None, "--component", help="The lm_generator to use (default: the first)"),
    gguf_file: Optional[str] = typer.Option(None, "--gguf-file", help="A GGUF file in MODEL (a Hugging Face folder)"),
    dtype: str = choice_option("float32", "--dtype", choices=DTYPES, help="Weights' precision (a Hugging Face folder)"),
    quantize: Optional[str] = choice_option(None, "--quantize", choices=tuple(q for q in QUANTIZE if q), help="int8: dynamic int8 linear layers"),
    threads: Optional[int] = typer.Option(None, "--threads", help="Torch threads (default: torch's)"),
    chat: Optional[bool] = typer.Option(None, "--chat/--no-chat", help="Use the tokenizer's chat template"),
    system: Optional[str] = typer.Option(None, "--system", help="The chat's system message (with --chat)"),
    template: Optional[str] = typer.Option(None, "--template", help="A prompt template with {text}"),
    max_new_tokens: Optional[int] = typer.Option(None, "--max-new-tokens", help="Most tokens to generate"),
    sample: Optional[bool] = typer.Option(None, "--sample/--greedy", help="Sample, or take the likeliest token"),
    temperature: Optional[float] = typer.Option(None, "--temperature", help="Sampling temperature (with --sample)"),
    top_k: Optional[int] = typer.Option(None, "--top-k", help="Sample among the k likeliest (0: off)"),
    top_p: Optional[float] = typer.Option(None, "--top-p", help="Nucleus sampling mass, in (0, 1]"),
    repetition_penalty: Optional[float] = typer.Option(None, "--repetition-penalty", help="> 1 discourages repeats"),
    stop: Optional[List[str]] = typer.Option(None, "--stop", help="A stop string (repeat for several)"),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed for sampling"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Report tokens, finish reason and speed on stderr"),
) -> None:
    """Generate from a prompt, streaming the text to stdout as it is produced."""
    from ..generation.prompts import PromptSettings
    from ..generation.settings import DecodingSettings, check_quantize, check_threads

    prompts = _prompts(prompt, lines=lines)
    options = {
        "max_new_tokens": max_new_tokens,
        "temperature": temperature,
        "top_k": top_k,
        "top_p": top_p,
        "repetition_penalty": repetition_penalty,
        "stop": tuple(stop) if stop else None,
        "seed": seed,
    }
    # bad values fail before a slow model load
    DecodingSettings(do_sample=True).with_options(**options)
    check_threads(threads)
    if quantize is not None:
        check_quantize(quantize, dtype=dtype)
    pipe = _load(model, component=component, gguf_file=gguf_file, dtype=dtype, quantize=quantize, threads=threads)
    pipe.generator.prepare()  # int8: quantize now, not inside the first prompt's timing
    settings = pipe.prompt
    prompt_settings = PromptSettings(
        template=template if template is not None else settings.template,
        chat=chat if chat is not None else settings.chat,
        system=system if system is not None else (settings.system if chat is not False else None),
        truncation=settings.truncation,
    )
    decoding = pipe.decoding.with_options(do_sample=sample, **options).check()
    for text in prompts:
        start = time.perf_counter()
        stream = pipe.stream(text, prompt=prompt_settings, decoding=decoding)
        for piece in stream:
            sys.stdout.write(piece)
            sys.stdout.flush()
        sys.stdout.write("\n")
        sys.stdout.flush()
        if verbose and stream.result is not None:
            result = stream.result
            seconds = time.perf_counter() - start
            print(
                f"{len(result.new_token_ids)} new tokens ({result.finish_reason}) in {seconds:.2f} s, "
                f"{len(result.new_token_ids) / max(seconds, 1e-9):.1f} tokens/s, first token after "
                f"{stream.first_token_seconds or 0.0:.2f} s",
                file=sys.stderr,
            )


def _prompts(words: Optional[List[str]], *, lines: bool) -> List[str]:
    if words:
        if lines:
            raise UserError("--lines reads prompts from stdin: give no PROMPT arguments with it")
        return [" ".join(words)]
    if sys.stdin.isatty():
        msg.info("Reading the prompt from stdin (end with Ctrl-D)")
    text = sys.stdin.read()
    prompts = [line for line in text.splitlines() if line.strip()] if lines else [text.rstrip("\n")]
    if not prompts or not any(p.strip() for p in prompts):
        raise UserError("empty prompt: give PROMPT arguments or text on stdin")
    return prompts


def _load(
    model: str,
    *,
    component: Optional[str],
    gguf_file: Optional[str],
    dtype: str,
    quantize: Optional[str],
    threads: Optional[int],
) -> "LMGenerator":
    """The ``lm_generator`` of a saved pipeline, or a new one over a Hugging Face folder."""
    import spacy

    from ..generation.settings import check_quantize, check_threads
    from ..pipeline.lm_generator import LMGenerator

    path = Path(model)
    if path.is_dir() and not (path / "config.cfg").is_file():  # a Hugging Face folder
        nlp = spacy.blank("en")
        nlp.add_pipe(
            "lm_generator",
            config={"model": str(path), "gguf_file": gguf_file, "dtype": dtype, "quantize": quantize, "threads": threads},
        )
        nlp.initialize()
        return nlp.get_pipe("lm_generator")
    if gguf_file is not None:
        raise UserError("--gguf-file is for a Hugging Face folder; a saved pipeline has its weights")
    try:
        nlp = spacy.load(model)
    except OSError as err:
        raise UserError(f"cannot load {model!r}: {str(err).splitlines()[0]}") from None
    names = [name for name, pipe in nlp.pipeline if isinstance(pipe, LMGenerator)]
    if not names:
        raise UserError(f"{model} has no lm_generator component")
    if component is not None and component not in names:
        raise UserError(f"{model} has no lm_generator named {component!r} (it has {', '.join(names)})")
    pipe: LMGenerator = nlp.get_pipe(component or names[0])
    loaded = pipe.generator
    if quantize is not None and not loaded.quantized:  # quantization happens before the first generation
        loaded.quantize = check_quantize(quantize, dtype=loaded.dtype)
    if threads is not None:
        loaded.threads = check_threads(threads)
    return pipe

"""``spacy-lm-suite generate``: streamed to stdout, from arguments or stdin, one-line errors."""

import io
import sys

import pytest
import spacy

import spacy_lm_suite.pipeline.lm_generator  # noqa: F401  (the factory, without the entry point)
from spacy_lm_suite.cli import main
from spacy_lm_suite.generation.tiny import words


def run(args, capsys, monkeypatch, *, stdin=None):
    """Run the CLI in-process: (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["spacy-lm-suite", *map(str, args)])
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = 0
    try:
        main()
    except SystemExit as exit_info:
        code = exit_info.code or 0
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def pipeline(tiny_folders, tmp_path_factory):
    nlp = spacy.blank("en")
    nlp.add_pipe(
        "lm_generator",
        config={"model": str(tiny_folders["llama"]), "chat": True, "decoding": {"max_new_tokens": 12}},
    )
    nlp.initialize()
    path = tmp_path_factory.mktemp("cli") / "pipeline"
    nlp.to_disk(path)
    return nlp, path


def test_help(capsys, monkeypatch):
    code, out, _ = run(["generate", "--help"], capsys, monkeypatch)
    assert code == 0 and "--chat" in out and "--stop" in out


def test_a_saved_pipeline_streams_what_the_component_generates(pipeline, capsys, monkeypatch):
    nlp, path = pipeline
    text = words(5)[3]
    code, out, err = run(["generate", path, *text.split(), "-v"], capsys, monkeypatch)
    assert code == 0, err
    assert out == nlp(text)._.generated + "\n"
    assert "new tokens" in err


def test_stdin_lines_and_options(pipeline, tiny_folders, capsys, monkeypatch):
    nlp, path = pipeline
    texts = words(3)
    code, out, err = run(["generate", path, "--lines", "--max-new-tokens", "4"], capsys, monkeypatch, stdin="\n".join(texts) + "\n\n")
    assert code == 0, err
    component = nlp.get_pipe("lm_generator")
    expected = [
        "".join(component.stream(text, decoding=component.decoding.with_options(max_new_tokens=4))) for text in texts
    ]
    assert out.splitlines() == expected


def test_a_hugging_face_folder_with_a_template_and_stop(tiny_folders, capsys, monkeypatch):
    args = ["generate", tiny_folders["gpt2"], "The river", "--template", "{text} is", "--max-new-tokens", "16"]
    code, plain, err = run(args, capsys, monkeypatch)
    assert code == 0, err
    assert "." in plain
    code, stopped, err = run([*args, "--stop", "."], capsys, monkeypatch)
    assert code == 0 and stopped == plain[: plain.index(".")] + "\n"


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--max-new-tokens", "0"], "max_new_tokens must be an integer >= 1"),
        (["--temperature", "0.5"], "invalid decoding settings: `temperature`"),
        (["--system", "Be brief."], "a system prompt needs chat = true"),
        (["--gguf-file", "missing.gguf"], "GGUF file not found"),
        (["--chat"], "no chat template"),
        (["--temperature", "nan", "--sample"], "temperature must be a finite number > 0"),
        (["--threads", "0"], "threads must be an integer >= 1"),
        (["--quantize", "int4"], "--quantize: expected one of int8, found 'int4'"),
        (["--dtype", "fp8"], "--dtype: expected one of float32, bfloat16, float16, found 'fp8'"),
    ],
)
def test_errors_are_one_line(extra, message, tiny_folders, capsys, monkeypatch):
    code, out, err = run(["generate", tiny_folders["gpt2"], "hello", *extra], capsys, monkeypatch)
    assert code == 1 and message in " ".join((out + err).split())
    assert "Traceback" not in out + err


def test_an_empty_stdin(tiny_folders, capsys, monkeypatch):
    code, out, err = run(["generate", tiny_folders["gpt2"]], capsys, monkeypatch, stdin="  \n")
    assert code == 1 and "empty prompt" in out + err

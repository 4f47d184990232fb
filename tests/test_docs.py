"""The commands in README.md and docs/*.md work as written.

Every fenced ```bash / ```sh / ```console / ```python block must be preceded, on the line
just before its fence, by one marker (an HTML comment, so it does not render; it may span
several lines):

    <!-- docs-check: run -->
        run as is: shell blocks with ``bash -e`` from the root of a working copy of the repo,
        Python blocks with this interpreter (``python -c``, the working copy as cwd);
    <!-- docs-check: run-sample: OLD=NEW; OLD2=NEW2 -->
        run after replacing every OLD by NEW, in order (e.g. a shared data file by the
        embedded sample under assets/, a step count by 2). Items are split at ``;`` and at
        their first ``=`` outside quotes and parentheses (``==`` is not a split point); every
        OLD must occur in the block; ``$(command)`` in NEW is replaced by the command's output;
    <!-- docs-check: skip: REASON -->
        not run; REASON must say why (hour-long, needs a cluster, ...).

A block without a marker fails ``test_every_command_block_has_a_marker`` with file:line.
Other fences (```ini configs, plain ``` layouts and schemas) are not checked.

The blocks of one page run, in page order, in one working copy of the repo (as a reader
following the page does): ``tmp/repo`` holds copies of the inputs (assets/, configs/, scripts/,
benchmarks/, docs/, project.yml, ...), symlinks to the code (spacy_lm_suite/, tests/) and
.venv, none of what commands write (training/, corpus/, metrics/, packages/, runs/, ...: a
fresh clone has none of them), and ``tmp/shared/datasets`` points to the shared data, so
``../shared/datasets`` resolves as beside the repo; nothing is written into the repo. Variables
a shell block sets are seen by the page's later shell blocks. Each run block is its own test
case (id ``FILE:LINE`` of its fence), run after the page's earlier run blocks (each runs once
per session), within ``BLOCK_TIMEOUT``; blocks that train, pretrain, package or generate are
marked slow. Blocks that need the shared data are skipped without it. Network access is off
for pip and Hugging Face (``PIP_NO_INDEX``, ``HF_HUB_OFFLINE``).
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from datasets_path import find_datasets_dir
from working_copy import make_working_copy

REPO = Path(__file__).resolve().parents[1]
DOC_FILES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
CHECKED = {"bash", "sh", "shell", "console", "python", "py"}
BLOCK_TIMEOUT = 240  # seconds per block
SLOW = re.compile(r"spacy (train|assemble|package|project)|pretrain-|train-vectors|generate|lm_transformer|"
                  r"spacy_lm_suite (evaluate|annotate)|benchmarks/")
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([^\s`{]*)")
MARKER = re.compile(r"<!--\s*docs-check:\s*(.*?)\s*-->\s*$", re.S)


@dataclass
class Block:
    path: str  # relative to the repo, e.g. docs/elmo.md
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    marker: str | None = None  # the marker's text after "docs-check:", None: no marker
    kind: str = ""  # run | run-sample | skip
    argument: str = ""
    problems: list = field(default_factory=list)

    @property
    def id(self):
        return f"{self.path}:{self.line}"

    @property
    def shell(self):
        return self.lang not in {"python", "py"}


def split_top(text, sep):
    """Split ``text`` at ``sep`` outside quotes, parentheses and brackets (``==`` never splits at ``=``)."""
    parts, start, depth, quote = [], 0, 0, None
    for i, char in enumerate(text):
        if quote:
            if char == quote:
                quote = None
        elif char in "'\"`":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth = max(depth - 1, 0)
        elif char == sep and depth == 0:
            if sep == "=" and ((i + 1 < len(text) and text[i + 1] == "=") or (i and text[i - 1] in "=!<>")):
                continue
            parts.append(text[start:i])
            start = i + 1
            if sep == "=":  # only the first
                break
    parts.append(text[start:])
    return parts


def parse_substitutions(argument):
    """``OLD=NEW; OLD2=NEW2`` as ``[(OLD, NEW), ...]``; ValueError on an item without ``=``."""
    pairs = []
    for item in split_top(argument, ";"):
        if not item.strip():
            continue
        parts = split_top(item, "=")
        if len(parts) != 2 or not parts[0].strip():
            raise ValueError(f"substitution {item.strip()!r} is not OLD=NEW")
        pairs.append((parts[0].strip(), parts[1].strip()))
    return pairs


def marker_before(lines, index):
    """The text of the docs-check comment ending on the line before ``lines[index]``, or None."""
    end = index - 1
    if end < 0 or not lines[end].rstrip().endswith("-->"):
        return None
    start = end
    while start >= 0 and "<!--" not in lines[start]:
        start -= 1
    if start < 0:
        return None
    comment = "\n".join(lines[start:end + 1])
    comment = comment[comment.rindex("<!--"):]
    match = MARKER.search(comment)
    return " ".join(match.group(1).split()) if match else None


def read_blocks(doc):
    lines = doc.read_text(encoding="utf8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        fence, lang = opening.group(1), opening.group(2).lower()
        end = i + 1
        while end < len(lines) and not re.match(rf"^ {{0,3}}{fence[0]}{{{len(fence)},}}\s*$", lines[end]):
            end += 1
        if lang in CHECKED:
            block = Block(doc.relative_to(REPO).as_posix(), i + 1, lang, "\n".join(lines[i + 1:end]) + "\n")
            block.marker = marker_before(lines, i)
            check_marker(block)
            blocks.append(block)
        i = end + 1
    return blocks


def check_marker(block):
    if block.marker is None:
        block.problems.append("no docs-check marker (run, run-sample: OLD=NEW; ..., skip: REASON) "
                              "on the line before the fence")
        return
    kind, _, argument = block.marker.partition(":")
    block.kind, block.argument = kind.strip(), argument.strip()
    if block.kind == "run" and not argument:
        return
    if block.kind == "skip":
        if not block.argument:
            block.problems.append("skip needs a reason: <!-- docs-check: skip: REASON -->")
        return
    if block.kind == "run-sample":
        try:
            substitutions = parse_substitutions(block.argument)
        except ValueError as error:
            block.problems.append(str(error))
            return
        if not substitutions:
            block.problems.append("run-sample without substitutions (use run)")
        code = block.code
        for old, new in substitutions:
            if old not in code:
                block.problems.append(f"run-sample: {old!r} does not occur in the block")
            code = code.replace(old, new)
        return
    block.problems.append(f"unknown marker {block.marker!r} (run, run-sample: ..., skip: ...)")


BLOCKS = [block for doc in DOC_FILES for block in read_blocks(doc)]


def test_every_command_block_has_a_marker():
    assert BLOCKS, "no code blocks found"
    problems = [f"{block.id}: {problem}" for block in BLOCKS for problem in block.problems]
    assert not problems, "\n".join(problems)


def test_the_parser():
    assert parse_substitutions("a/b.txt=c/d.conll; --max-steps 20000=--max-steps 2") == [
        ("a/b.txt", "c/d.conll"), ("--max-steps 20000", "--max-steps 2")]
    assert parse_substitutions("pip install x==1.0=true; \"$M\"=\"$(python -c 'a=1; print(a)')\"") == [
        ("pip install x==1.0", "true"), ('"$M"', "\"$(python -c 'a=1; print(a)')\"")]
    assert parse_substitutions("--steps 4000=") == [("--steps 4000", "")]
    with pytest.raises(ValueError):
        parse_substitutions("no equals sign")
    lines = ["text", "<!-- docs-check: skip: a", "   long reason -->", "```bash", "make test", "```"]
    assert marker_before(lines, 3) == "skip: a long reason"
    assert marker_before(["<!-- other -->", "```bash"], 1) is None
    assert marker_before(["<!-- docs-check: run -->", "", "```bash"], 2) is None


def expand_commands(text, cwd, env):
    """Replace each ``$(command)`` in ``text`` by the command's output (run by bash in ``cwd``)."""
    out, i = [], 0
    while (start := text.find("$(", i)) >= 0:
        depth, end = 0, start + 1
        for end in range(start + 1, len(text)):
            depth += {"(": 1, ")": -1}.get(text[end], 0)
            if depth == 0:
                break
        command = text[start + 2:end]
        result = subprocess.run(["bash", "-ec", command], cwd=cwd, env=env, capture_output=True, text=True)
        assert result.returncode == 0, f"$({command}) failed: {result.stderr}"
        out += [text[i:start], result.stdout.strip()]
        i = end + 1
    return "".join(out) + text[i:]


class Page:
    """One page's working copy; runs its blocks once each, in page order."""

    def __init__(self, root: Path):
        self.root = root
        self.work, self.env = make_working_copy(root)
        self.datasets = find_datasets_dir()
        self.state = root / "shell-state.sh"
        self.results = {}  # line -> (returncode or None if skipped, output, seconds)

    def code_of(self, block):
        code = block.code
        if block.kind == "run-sample":
            for old, new in parse_substitutions(block.argument):
                code = code.replace(old, expand_commands(new, self.work, self.env))
        if block.lang == "console":  # "$ command" lines are commands, the rest is output
            code = "".join(line[2:] + "\n" for line in code.splitlines() if line.startswith("$ "))
        return code

    def run(self, block):
        if block.line in self.results:
            return self.results[block.line]
        code = self.code_of(block)
        if "../shared/datasets" in code and not self.datasets.is_dir():
            self.results[block.line] = (None, f"needs the shared data ({self.datasets} not found)", 0.0)
            return self.results[block.line]
        if block.shell:
            script = self.root / f"block-{block.line}.sh"
            script.write_text("set -a\n"  # every variable the block sets is exported, so kept for the next blocks
                              f'if [ -f "{self.state}" ]; then . "{self.state}"; fi\n'
                              f"trap 'export -p > \"{self.state}\"' EXIT\n"
                              f"{code}", encoding="utf8")
            command = ["bash", "-e", str(script)]
        else:
            command = [sys.executable, "-c", code]
        start = time.monotonic()
        process = subprocess.Popen(command, cwd=self.work, env=self.env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            output, _ = process.communicate(timeout=BLOCK_TIMEOUT)
            returncode = process.returncode
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
            returncode = f"timeout after {BLOCK_TIMEOUT} s"
        seconds = time.monotonic() - start
        output = output.decode("utf8", "replace")
        self.results[block.line] = (returncode, output, seconds)
        return self.results[block.line]


@pytest.fixture(scope="session")
def pages(tmp_path_factory):
    made = {}

    def page(path):
        if path not in made:
            made[path] = Page(tmp_path_factory.mktemp(Path(path).stem))
        return made[path]

    yield page
    for done in made.values():  # the working copies hold GBs (SmolLM2 twice): kept only when a block failed
        if all(returncode in (0, None) for returncode, _, _ in done.results.values()):
            shutil.rmtree(done.root, ignore_errors=True)


def run_params():
    params = []
    for block in BLOCKS:
        if block.problems or block.kind not in {"run", "run-sample", "skip"}:
            continue
        marks = []
        if block.kind == "skip":
            marks.append(pytest.mark.skip(reason=f"docs-check skip: {block.argument}"))
        elif SLOW.search(block.code):
            marks.append(pytest.mark.slow)
        params.append(pytest.param(block, id=block.id, marks=marks))
    return params


@pytest.mark.parametrize("block", run_params())
def test_block_runs(block, pages):
    page = pages(block.path)
    earlier = [b for b in BLOCKS if b.path == block.path and b.line < block.line
               and b.kind in {"run", "run-sample"} and not b.problems]
    failed_before = []
    for previous in earlier:
        returncode, _, _ = page.run(previous)
        if returncode != 0:
            failed_before.append(previous.id + (" (skipped: no shared data)" if returncode is None else ""))
    returncode, output, seconds = page.run(block)
    if returncode is None:
        pytest.skip(output)
    if returncode != 0:
        note = f" (after earlier blocks that did not run: {', '.join(failed_before)})" if failed_before else ""
        offset = "" if block.shell else f"; <string> line N is {block.path} line {block.line} + N"
        pytest.fail(f"{block.id} exited {returncode} after {seconds:.1f} s{note}{offset}\n"
                    f"--- code run ---\n{page.code_of(block)}--- output (last 6000 characters) ---\n"
                    f"{output[-6000:]}", pytrace=False)

"""Install pipeline wheels in brand-new venvs and check that they work there.

For each pipeline wheel (or a ``spacy package`` folder holding one in
``dist/``), in a temporary folder outside the repository:

1. ``python -m venv``;
2. torch's CPU wheel, when the pipeline needs torch: from
   https://download.pytorch.org/whl/cpu, or, where that index is unreachable,
   with a plain ``pip install torch==VERSION`` from the configured index;
3. our own wheel with the extra the pipeline's components need (``elmo``,
   ``transformers``, ``generator``; none for the core) together with the
   pipeline wheel, whose ``spacy-lm-suite`` requirement no index serves;
4. in that venv, from a working folder outside the repository, with the
   model hub and dataset sites switched off (``HF_HUB_OFFLINE=1``):
   ``spacy.load(<package name>)``, ``nlp()`` on a few sentences, and
   ``nlp.pipe(texts, n_process=2)`` under the spawn start method, which must
   equal ``nlp()``: the same entities, cats within 1e-4, the same generated
   text (greedy decoding).

The time of each stage is printed; ``--output`` also writes them as JSON.
A missing wheel or a failed stage is one line on stderr (exit 1) naming the
log with pip's or the check's full output. Run by ``spacy project run
package-check``; see docs/packaging.md.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
import zipfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

REPO = Path(__file__).resolve().parents[1]
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
TORCH_VERSION = "2.13.0"
TOLERANCE = 1e-4
MARKER = "check-wheels-result: "
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
# What a config names -> the extra of spacy-lm-suite it needs (pyproject.toml).
EXTRAS = (
    ("transformers", ('factory = "lm_transformer"', "spacy-lm-suite.Transformer.v1", "spacy-lm-suite.TransformerListener.v1")),
    ("elmo", ('factory = "lm_elmo"', "spacy-lm-suite.ELMo.v1", "spacy-lm-suite.ELMoListener.v1")),
    ("generator", ('factory = "lm_generator"',)),
)
TORCH_EXTRAS = {"transformers", "elmo", "generator"}
SENTENCES = [
    "Angela Merkel met Emmanuel Macron in Paris on Tuesday.",
    "The film is a charming, funny and moving story about friendship.",
    "Shares of Apple fell 3 % in New York after the report.",
    "A dull, tedious and badly acted mess.",
    "The capital of France is Paris.",
]

# Run by the new venv's python, in a working folder outside the repository.
CHECK_PROGRAM = textwrap.dedent(
    '''
    import json, multiprocessing, sys, time

    MARKER = "check-wheels-result: "

    def summary(doc):
        generated = doc._.generated if doc.has_extension("generated") else None
        return {"ents": [[e.start_char, e.end_char, e.label_] for e in doc.ents], "cats": dict(doc.cats), "generated": generated}

    def main():
        name, venv, tolerance = sys.argv[1], sys.argv[2], float(sys.argv[3])
        texts = json.loads(sys.stdin.read())
        started = time.perf_counter()
        import spacy, spacy_lm_suite
        nlp = spacy.load(name)
        loaded = time.perf_counter()
        module = sys.modules[name]
        for what, path in (("spacy_lm_suite", spacy_lm_suite.__file__), (name, module.__file__)):
            if not path.startswith(venv):
                sys.exit(f"{what} was imported from {path}, not from the new venv {venv}")
        single = [summary(nlp(text)) for text in texts]
        called = time.perf_counter()
        try:
            multi = [summary(doc) for doc in nlp.pipe(texts, n_process=2, batch_size=2)]
        except Exception as error:
            sys.exit(f"nlp.pipe(n_process=2) under spawn raised {type(error).__name__}: {error}")
        piped = time.perf_counter()
        greedy = True
        if "lm_generator" in nlp.pipe_names:
            greedy = not nlp.get_pipe("lm_generator").decoding.do_sample
        problems = []
        for i, (one, two) in enumerate(zip(single, multi)):
            if one["ents"] != two["ents"]:
                problems.append(f"text {i}: entities {two['ents']} with n_process=2, {one['ents']} with nlp()")
            if sorted(one["cats"]) != sorted(two["cats"]) or any(abs(one["cats"][k] - two["cats"][k]) > tolerance for k in one["cats"]):
                problems.append(f"text {i}: cats {two['cats']} with n_process=2, {one['cats']} with nlp()")
            if greedy and one["generated"] != two["generated"]:
                problems.append(f"text {i}: generated {two['generated']!r} with n_process=2, {one['generated']!r} with nlp()")
        if len(multi) != len(single):
            problems.append(f"nlp.pipe gave {len(multi)} docs for {len(single)} texts")
        if "ner" in nlp.pipe_names and not any(s["ents"] for s in single):
            problems.append("the NER found no entity in any sentence")
        if any(n.startswith("textcat") for n in nlp.pipe_names) and not all(s["cats"] for s in single):
            problems.append("a doc has no cats")
        if "lm_generator" in nlp.pipe_names and not any(s["generated"] for s in single):
            problems.append("no doc got generated text")
        print(MARKER + json.dumps({
            "pipeline": nlp.pipe_names, "spacy_lm_suite": spacy_lm_suite.__file__, "package": module.__file__,
            "load_seconds": loaded - started, "call_seconds": called - loaded, "pipe_seconds": piped - called,
            "greedy": greedy, "first": single[0], "problems": problems,
        }))
        if problems:
            sys.exit("nlp.pipe(n_process=2) under spawn differs from nlp(): " + "; ".join(problems))

    if __name__ == "__main__":
        multiprocessing.set_start_method("spawn", force=True)
        main()
    '''
)


class CheckError(Exception):
    """One line for the user: what failed, and where its full output is."""


def find_wheel(path: Path, pattern: str, what: str) -> Path:
    """``path`` itself (a ``.whl``) or the one wheel matching ``pattern`` in it or its ``dist/``."""
    if path.is_file() and path.suffix == ".whl":
        return path.resolve()
    if not path.exists():
        raise CheckError(f"{path}: no such {what} (run `spacy project run package` first)")
    found = sorted(set(path.glob(pattern)) | set(path.glob(f"dist/{pattern}")))
    if not found:
        raise CheckError(f"{path}: holds no {what} ({pattern}; run `spacy project run package` first)")
    if len(found) > 1:
        raise CheckError(f"{path}: holds {len(found)} wheels ({', '.join(p.name for p in found)}): give one file")
    return found[0].resolve()


def wheel_name(wheel: Path) -> Tuple[str, str]:
    """(distribution name as imported, version) from a wheel's file name."""
    parts = wheel.name.split("-")
    if len(parts) < 5:
        raise CheckError(f"{wheel}: not a wheel file name (name-version-python-abi-platform.whl)")
    return parts[0], parts[1]


def pipeline_needs(wheel: Path) -> Tuple[str, List[str]]:
    """The package name a pipeline wheel loads as, and the extras of spacy-lm-suite its config needs."""
    name, version = wheel_name(wheel)
    try:
        with zipfile.ZipFile(wheel) as archive:
            configs = [n for n in archive.namelist() if re.fullmatch(rf"{re.escape(name)}/[^/]+/config\.cfg", n)]
            if not configs:
                raise CheckError(f"{wheel}: not a spaCy pipeline wheel (no {name}/{name}-{version}/config.cfg)")
            config = archive.read(configs[0]).decode("utf-8")
    except zipfile.BadZipFile:
        raise CheckError(f"{wheel}: not a wheel (not a zip file)") from None
    extras = [extra for extra, markers in EXTRAS if any(marker in config for marker in markers)]
    return name, extras


def check_suite_wheel(wheel: Path) -> None:
    """Refuse a suite wheel whose modules are not the repository's (built from a stale ``build/``, or before a
    module was added or removed)."""
    source = REPO / "spacy_lm_suite"
    if not source.is_dir():
        return
    ours = {p.relative_to(REPO).as_posix() for p in source.rglob("*.py") if "__pycache__" not in p.parts}
    with zipfile.ZipFile(wheel) as archive:
        shipped = {n for n in archive.namelist() if n.startswith("spacy_lm_suite/") and n.endswith(".py")}
    extra, missing = sorted(shipped - ours), sorted(ours - shipped)
    if extra or missing:
        detail = "; ".join(filter(None, [extra and f"modules not in the source: {', '.join(extra[:3])}",
                                         missing and f"modules missing: {', '.join(missing[:3])}"]))
        raise CheckError(f"{wheel.name} does not match spacy_lm_suite/ ({detail}): rebuild it "
                         "(rm -rf build; spacy project run package-suite)")


def clean_env(venv: Path) -> Dict[str, str]:
    """The environment of everything run in the new venv: its bin first, no PYTHONPATH, no hub."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    env["PIP_NO_INPUT"] = "1"
    return {**env, **OFFLINE_ENV}


def run_logged(args: Sequence[str], *, log: Path, stage: str, label: str, cwd: Path, env: Dict[str, str],
               stdin: Optional[str] = None) -> str:
    """Run ``args``; its output goes to ``log``. A failure raises :class:`CheckError` with its last line."""
    with open(log, "a", encoding="utf-8") as out:
        out.write(f"$ {' '.join(map(str, args))}\n")
        out.flush()
        done = subprocess.run(list(map(str, args)), cwd=cwd, env=env, input=stdin, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out.write(done.stdout)
    if done.returncode != 0:
        lines = [line.strip() for line in done.stdout.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("ERROR")]  # pip's; else a traceback's or exit's last line
        last = (errors or lines or ["(no output)"])[-1]
        raise CheckError(f"{label}: {stage} failed (exit {done.returncode}): {last[:300]} [full output: {log}]")
    return done.stdout


def torch_index_reachable(url: str = TORCH_CPU_INDEX, timeout: float = 10.0) -> bool:
    """Whether torch's CPU index answers (many machines reach only their configured package index)."""
    try:
        with urllib.request.urlopen(f"{url}/torch/", timeout=timeout) as response:
            return response.status == 200
    except Exception:  # noqa: BLE001 - any failure means: use the configured index
        return False


def check_pipeline(wheel: Path, suite: Path, *, root: Path, torch_index: Optional[str], torch_version: str,
                   texts: List[str], result: Dict[str, object]) -> Dict[str, object]:
    """Stages 1-4 of the module docstring for one pipeline wheel; fills ``result`` with their times and
    results as they finish (so a failure keeps the times of the stages before it) and returns it."""
    name, extras = pipeline_needs(wheel)
    folder = root / name
    folder.mkdir()
    venv, work, log = folder / "venv", folder / "work", folder / "log.txt"
    work.mkdir()
    python = venv / "bin" / "python"
    env = clean_env(venv)
    times: Dict[str, float] = {}
    result.update({"pipeline": name, "wheel": str(wheel), "suite_wheel": str(suite), "extras": extras,
                   "seconds": times, "log": str(log)})
    suite_spec = f"{suite}[{','.join(extras)}]" if extras else str(suite)
    print(f"[{name}] {wheel.name} + {suite.name}{'[' + ','.join(extras) + ']' if extras else ''}", flush=True)

    def stage(key: str, what: str, args: Sequence[str], **kwargs) -> str:
        started = time.perf_counter()
        try:
            output = run_logged(args, log=log, stage=what, label=name, cwd=work, env=env, **kwargs)
        finally:
            seconds = time.perf_counter() - started
            times[key] = round(times.get(key, 0.0) + seconds, 1)  # a retried stage: both attempts
            print(f"[{name}] {what}: {seconds:.1f} s", flush=True)
        return output

    stage("venv", "python -m venv", [sys.executable, "-m", "venv", venv])
    if TORCH_EXTRAS & set(extras):
        plain = ["-m", "pip", "install", "-q", f"torch=={torch_version}"]
        source = f"torch {torch_version} from the configured index ({TORCH_CPU_INDEX} is unreachable here)"
        if torch_index:
            try:
                stage("torch", f"pip install torch {torch_version} from {torch_index}",
                      [python, *plain, "--index-url", torch_index])
                source = f"torch {torch_version} from {torch_index}"
            except CheckError as error:
                print(f"[{name}] {error}; trying the configured index", flush=True)
                source = f"torch {torch_version} from the configured index (installing from {torch_index} failed)"
                torch_index = None
        if not torch_index:
            stage("torch", f"pip install {source}", [python, *plain])
        result["torch_source"] = source
    stage("install", "pip install the two wheels", [python, "-m", "pip", "install", "-q", suite_spec, wheel])
    program = work / "check_pipeline.py"  # a file, so spawn's workers import it as __mp_main__, as in a user's script
    program.write_text(CHECK_PROGRAM, encoding="utf-8")
    output = stage("check", "spacy.load, nlp(), nlp.pipe(n_process=2) under spawn",
                   [python, program, name, str(venv), str(TOLERANCE)], stdin=json.dumps(texts))
    found = [line[len(MARKER):] for line in output.splitlines() if line.startswith(MARKER)]
    if not found:
        raise CheckError(f"{name}: the check printed no result [full output: {log}]")
    report = json.loads(found[-1])
    result["check"] = report
    times["total"] = round(sum(v for k, v in times.items() if k != "total"), 1)
    print(f"[{name}] ok: load {report['load_seconds']:.1f} s, nlp() {report['call_seconds']:.1f} s, "
          f"nlp.pipe(n_process=2) {report['pipe_seconds']:.1f} s; {len(texts)} texts equal; "
          f"first: {json.dumps(report['first'], ensure_ascii=False)[:200]}", flush=True)
    return result


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pipelines", nargs="+", type=Path,
                        help="pipeline wheels, or `spacy package` folders (packages/en_<name>-<version>) with one in dist/")
    parser.add_argument("--suite", type=Path, default=REPO / "packages" / "dist",
                        help="our wheel, or a folder holding exactly one spacy_lm_suite-*.whl (default: packages/dist)")
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="where the temporary venvs go (default: the system's temporary folder; not in the repository)")
    parser.add_argument("--torch-version", default=TORCH_VERSION)
    parser.add_argument("--torch-index", default=TORCH_CPU_INDEX,
                        help="torch's CPU index; if unreachable, torch comes from the configured index ('' to skip trying)")
    parser.add_argument("--keep", action="store_true", help="keep the venvs (printed) instead of deleting them")
    parser.add_argument("--output", type=Path, default=None, help="write the stages' times and results here (JSON)")
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    try:
        wheels = [find_wheel(path, "*.whl", "pipeline wheel") for path in args.pipelines]
        for wheel in wheels:
            pipeline_needs(wheel)  # every wheel is a pipeline wheel, before any venv is made
        suite = find_wheel(args.suite, "spacy_lm_suite-*.whl", "spacy-lm-suite wheel")
        check_suite_wheel(suite)
        base = (args.work_dir or Path(tempfile.gettempdir())).resolve()
        if base == REPO or REPO in base.parents:
            raise CheckError(f"--work-dir {base}: inside the repository; the check must run outside it")
        base.mkdir(parents=True, exist_ok=True)
    except CheckError as error:
        print(f"check_wheels: error: {error}", file=sys.stderr)
        return 1
    root = Path(tempfile.mkdtemp(prefix="spacy-lm-suite-wheels-", dir=base))
    torch_index = args.torch_index or None
    if torch_index and not torch_index_reachable(torch_index):
        print(f"{torch_index} is unreachable here: torch comes from the configured index", flush=True)
        torch_index = None
    results: List[Dict[str, object]] = []
    failures: List[str] = []
    try:
        for wheel in wheels:  # each in its own new venv; a failure is reported and the next one still runs
            result: Dict[str, object] = {"pipeline": wheel_name(wheel)[0], "wheel": str(wheel)}
            results.append(result)
            try:
                check_pipeline(wheel, suite, root=root, torch_index=torch_index, torch_version=args.torch_version,
                               texts=SENTENCES, result=result)
            except CheckError as error:
                failures.append(str(error))
                result["error"] = str(error)
                print(f"check_wheels: error: {error}", file=sys.stderr, flush=True)
    finally:
        if not args.keep:
            for venv in root.glob("*/venv"):
                shutil.rmtree(venv, ignore_errors=True)  # ~1-2 GB each with torch; the logs stay on failure
            if not failures:
                shutil.rmtree(root, ignore_errors=True)
    total = time.perf_counter() - started
    passed = [r for r in results if "error" not in r]
    print(f"{len(passed)} of {len(results)} pipeline wheel(s) passed in {total:.0f} s"
          + (f"; venvs kept in {root}" if args.keep else f"; logs in {root}" if failures else ""))
    for result in results:
        times = ", ".join(f"{k} {v:.1f} s" for k, v in result.get("seconds", {}).items())
        print(f"  {result['pipeline']}: {times}" + ("; FAILED" if "error" in result else ""))
    if args.output is not None:
        from spacy_lm_suite.runs.outputs import write_json_atomic

        args.output.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(args.output, {"seconds": round(total, 1), "python": sys.version.split()[0],
                                        "passed": not failures, "results": results})
        print(f"wrote {args.output}")
    if failures:
        print(f"check_wheels: error: {len(failures)} of {len(results)} pipeline wheel(s) failed (lines above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

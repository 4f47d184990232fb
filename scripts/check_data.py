"""Check the benchmark data the project's full-size workflows read, before any of them runs.

Every file is looked for under DATA_DIR (the project's `data_dir` var) and its md5 compared
with the one published in the shared datasets' README (the public source of each is named
there and in project.yml's assets). A missing folder or file, or a file whose md5 differs, is
one line naming it, the var to change and what was expected; nothing is written.

    python scripts/check_data.py ../shared/datasets
    python scripts/check_data.py ../shared/datasets --only conll2003 sst2
"""

import argparse
import hashlib
import sys
from pathlib import Path

# dataset -> file -> md5 (the shared datasets' README; public sources in project.yml's assets)
FILES = {
    "conll2003": {"conll2003/train.txt": "aefa93f05ba83177736a6561d88dc558",
                  "conll2003/dev.txt": "069a9c34096c3ea17f967ef47ae32d07"},
    "wnut17": {"wnut17/train.conll": "c213127d9438fb2c64fe0fabe8644489",
               "wnut17/dev.conll": "29ad3845ac26a060fa3eecce3eb6c0fb"},
    "sst2": {"sst2/train.tsv": "da409a0a939379ed32a470bc0f7fe99a",
             "sst2/dev.tsv": "268856b487b2a31a28c0a93daaff7288"},
    "trec": {"trec/train_5500.label": "bbd3617dd3b1ecdbb865f863f061b802"},
    "corpus": {"corpus/brown/brown.txt": "c04027bd3b1776c7ddb535550e69359a"},
}


def md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


SHARED = "../shared/datasets"


def is_embedded_sample(data_dir: Path) -> bool:
    """The sample committed under the project's assets/ (the demo's data, the var's default)."""
    return (data_dir / "README.md").is_file() and (data_dir / "gutenberg").is_dir() and not (data_dir / "conll2003").exists()


def check(data_dir: Path, only=None) -> list:
    """The problems found, one line each (empty: all present and matching)."""
    if not data_dir.is_dir():
        return [f"{data_dir}: no such data folder; set the project's data_dir var to the folder holding "
                f"conll2003/, sst2/, ... (spacy project run WORKFLOW . --vars.data_dir {SHARED})"]
    if is_embedded_sample(data_dir):
        return [f"{data_dir}: the embedded sample (WNUT-17 and Gutenberg only: the data of `spacy project run demo`); "
                f"this workflow needs the full datasets: spacy project run WORKFLOW . --vars.data_dir {SHARED}"]
    problems = []
    for dataset, files in FILES.items():
        if only and dataset not in only:
            continue
        for relative, expected in files.items():
            path = data_dir / relative
            if not path.is_file():
                problems.append(f"{path}: missing ({dataset}); expected under --vars.data_dir {data_dir}")
            elif (found := md5(path)) != expected:
                problems.append(f"{path}: md5 {found}, expected {expected} ({dataset}: not the published "
                                "file; restore it or point --vars.data_dir at a folder holding the original)")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--only", nargs="+", choices=list(FILES), help="check these datasets only")
    args = parser.parse_args()
    problems = check(args.data_dir, args.only)
    for problem in problems:
        print(f"✘ {problem}", file=sys.stderr)
    if problems:
        sys.exit(1)
    names = args.only or list(FILES)
    print(f"✔ {args.data_dir}: {', '.join(names)} present, md5 as published")


if __name__ == "__main__":
    main()

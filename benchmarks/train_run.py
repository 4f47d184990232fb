"""One ``spacy train`` run the way the benchmarks run it: skipped when it finished, or when
its run record (``reports/runs``) holds the same command, and recorded when it finishes
(see ``spacy_runs.train``). For project steps that train a single run.

    python benchmarks/train_run.py configs/ner_static.cfg training/corpus/ner-glove \
        --paths.train ../shared/datasets/conll2003/train.txt --paths.dev ../shared/datasets/conll2003/dev.txt \
        --paths.vectors training/corpus-glove/vectors
"""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from spacy_runs import train  # noqa: E402

USAGE = "usage: python benchmarks/train_run.py CONFIG OUTPUT [spacy train overrides, e.g. --paths.train FILE]"


def main(argv=None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) < 2 or argv[0].startswith("-") or argv[1].startswith("-") or len(argv[2:]) % 2:
        sys.exit(USAGE)
    config, output, overrides = Path(argv[0]).resolve(), Path(argv[1]).absolute(), argv[2:]
    if not config.is_file():
        sys.exit(f"{argv[0]}: no such config file\n{USAGE}")
    output.parent.mkdir(parents=True, exist_ok=True)
    performance = train(config, output, overrides, output.with_suffix(".log"))
    scores = {k: v for k, v in performance.items() if k in ("ents_f", "cats_micro_f", "cats_macro_f") and v is not None}
    print(f"{argv[1]}: " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()), flush=True)


if __name__ == "__main__":
    main()

"""Build the committed samples under ``assets/`` from the shared datasets folder.

    python scripts/make_assets.py ../shared/datasets [--output assets]

Deterministic: no random generator, only sorted inputs and BLAKE2b ranks, so
running it twice gives byte-identical files. See ``assets/README.md``.

- ``wnut17/train.conll``, ``wnut17/dev.conll``: the first 1,000 train and the
  first 300 dev sentences of WNUT-17, lines copied byte for byte (boundary
  lines included, some of which hold a single TAB as upstream).
- ``gutenberg/train.jsonl``, ``gutenberg/dev.jsonl``: sentences labelled by
  author (5 authors, 400 train + 100 dev each); a paragraph goes to dev or
  train as a whole, so no dev sentence shares a paragraph with a train one.
- ``gutenberg/raw.txt``: about 400 KB of paragraphs from all 13 books, one
  paragraph per line with a blank line between, none from a dev paragraph.
"""

import argparse
import hashlib
import json
import re
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

AUTHORS = ("austen", "chesterton", "melville", "milton", "whitman")
WNUT_SENTENCES = {"train": 1000, "dev": 300}
TRAIN_PER_AUTHOR = 400
DEV_PER_AUTHOR = 100
DEV_PARAGRAPH_SHARE = 0.2
MIN_WORDS, MAX_WORDS = 6, 50
RAW_BYTES = 400_000

_SPLIT = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z])")
_ABBREVIATIONS = re.compile(r"\b(?:Mr|Mrs|Dr|St|Messrs|Col|Capt|Gen|Rev)\.[\"')\]]*$")


def rank(*parts: object) -> int:
    """A fixed pseudo-random rank from ``parts`` (BLAKE2b, first 8 bytes)."""
    key = "\x1f".join(str(part) for part in parts).encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big")


def wnut_sample(source: Path, n_sentences: int) -> bytes:
    """The raw lines of the first ``n_sentences`` sentences, with their boundary lines."""
    kept: List[bytes] = []
    count = 0
    in_sentence = False
    with source.open("rb") as file:
        for line in file:
            kept.append(line)
            if line.strip():
                in_sentence = True
            elif in_sentence:
                in_sentence = False
                count += 1
                if count == n_sentences:
                    break
    if count < n_sentences:
        raise SystemExit(f"{source}: only {count} sentences, expected at least {n_sentences}")
    return b"".join(kept)


def paragraphs(book: Path) -> Iterator[str]:
    """Blank-line separated paragraphs, whitespace collapsed, ``_italic_`` marks removed.

    The NLTK files are ASCII except two in ISO-8859-1 (chesterton-ball, shakespeare-caesar).
    """
    block: List[str] = []
    for line in book.read_text(encoding="latin-1").splitlines() + [""]:
        if line.strip():
            block.append(line.strip())
        elif block:
            yield " ".join(" ".join(block).replace("_", "").split())
            block = []


def sentences(paragraph: str) -> List[str]:
    """Split on ``.!?`` before a capital, keeping ``Mr.``-style abbreviations attached."""
    merged: List[str] = []
    for piece in _SPLIT.split(paragraph):
        if merged and _ABBREVIATIONS.search(merged[-1]):
            merged[-1] += " " + piece
        else:
            merged.append(piece)
    return [s for s in merged if MIN_WORDS <= len(s.split()) <= MAX_WORDS and re.search(r"[a-z]", s)]


def gutenberg_sample(folder: Path) -> Tuple[Dict[str, List[dict]], str]:
    """Author-labelled train/dev sentences and the raw-text sample."""
    candidates: Dict[str, Dict[str, List[Tuple[int, dict]]]] = {
        split: {author: [] for author in AUTHORS} for split in ("train", "dev")
    }
    raw_candidates: List[Tuple[int, str, int, str]] = []
    for book in sorted(folder.glob("*.txt")):
        author = book.stem.split("-")[0]
        for p_index, paragraph in enumerate(paragraphs(book)):
            is_dev = author in AUTHORS and rank("split", book.stem, p_index) < DEV_PARAGRAPH_SHARE * 2**64
            if not is_dev and re.search(r"[a-z]", paragraph):
                raw_candidates.append((rank("raw", book.stem, p_index), book.stem, p_index, paragraph))
            if author not in AUTHORS:
                continue
            split = "dev" if is_dev else "train"
            for s_index, text in enumerate(sentences(paragraph)):
                record = {"text": text, "label": author, "book": book.stem}
                candidates[split][author].append((rank("sentence", book.stem, p_index, s_index), record))
    samples: Dict[str, List[dict]] = {}
    for split, per_author in (("train", TRAIN_PER_AUTHOR), ("dev", DEV_PER_AUTHOR)):
        chosen: List[Tuple[int, dict]] = []
        for author in AUTHORS:
            pool = sorted(candidates[split][author], key=lambda item: item[0])
            if len(pool) < per_author:
                raise SystemExit(f"{author}: only {len(pool)} {split} sentences, expected {per_author}")
            chosen.extend(pool[:per_author])
        # Interleave authors in a fixed shuffled order.
        samples[split] = [record for _, record in sorted(chosen, key=lambda item: item[0])]
    raw: List[Tuple[str, int, str]] = []
    size = 0
    for _, stem, p_index, paragraph in sorted(raw_candidates):
        if size >= RAW_BYTES:
            break
        raw.append((stem, p_index, paragraph))
        size += len(paragraph.encode()) + 2
    raw_text = "\n\n".join(paragraph for _, _, paragraph in sorted(raw)) + "\n"
    return samples, raw_text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("datasets", type=Path, help="the shared datasets folder (holds wnut17/ and corpus/gutenberg/)")
    parser.add_argument("--output", type=Path, default=Path(__file__).resolve().parents[1] / "assets")
    args = parser.parse_args()
    wnut_out = args.output / "wnut17"
    gutenberg_out = args.output / "gutenberg"
    wnut_out.mkdir(parents=True, exist_ok=True)
    gutenberg_out.mkdir(parents=True, exist_ok=True)
    for split, n_sentences in WNUT_SENTENCES.items():
        (wnut_out / f"{split}.conll").write_bytes(wnut_sample(args.datasets / "wnut17" / f"{split}.conll", n_sentences))
    samples, raw_text = gutenberg_sample(args.datasets / "corpus" / "gutenberg")
    for split, records in samples.items():
        lines = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
        (gutenberg_out / f"{split}.jsonl").write_text(lines, encoding="utf-8")
    (gutenberg_out / "raw.txt").write_text(raw_text, encoding="utf-8")
    for path in sorted(args.output.rglob("*")):
        if path.is_file() and path.suffix in {".conll", ".jsonl", ".txt"}:
            print(f"{path.relative_to(args.output)}\t{path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()

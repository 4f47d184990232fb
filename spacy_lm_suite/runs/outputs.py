"""The single writer of every output folder and file of the suite.

Rules (see ``docs/errors.md``):

* **Check first.** :func:`check_output_dir` / :func:`check_output_file` run
  before any long work and raise :class:`~spacy_lm_suite.errors.UserError`
  with one line when the output cannot be written: the path is a file (or a
  folder where a file is expected), lies under a file, or its nearest
  existing folder is not writable.
* **Refuse what is not ours.** A non-empty output folder is accepted only
  with ``overwrite`` and only if it holds our manifest
  (:data:`MANIFEST_FILE`, the relative paths an earlier run of the same
  command wrote). Without a manifest it is refused even with ``overwrite``.
* **Replace only what we wrote.** :func:`atomic_output_dir` writes into a
  temporary folder and moves the result into place on success; an earlier
  output loses exactly the paths its manifest lists, each checked to lie
  inside the target (no ``..``, no absolute paths, no symlinks out of it). A
  manifest that is not a list of such paths is an error, and nothing is
  deleted. Files the user put beside our output survive. On error nothing
  changes and the temporary folder is removed.
* **Atomic files.** :func:`atomic_write_file` (and :func:`write_json_atomic`,
  :func:`save_safetensors_atomic`) write a temporary file in the same folder,
  fsync it and ``os.replace`` it over the target.
* **The user's umask.** ``mkdtemp``/``mkstemp`` create 0700/0600, and
  safetensors' ``save_file`` writes 0600 whatever the umask; everything we
  create is chmodded to ``0o666 & ~umask`` (files) or ``0o777 & ~umask``
  (folders) by :func:`fix_permissions`.
"""

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Union

from ..errors import InputFormatError, UserError

PathLike = Union[str, Path]
MANIFEST_FILE = ".spacy-lm-suite-manifest.json"
MANIFEST_FORMAT = "spacy-lm-suite.manifest"
TMP_PREFIX = ".spacy-lm-suite-tmp-"


# -- permissions ---------------------------------------------------------------


def current_umask() -> int:
    """The process's umask, read without changing it where the OS allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (not thread-safe, but brief)
    os.umask(mask)
    return mask


def fix_permissions(path: PathLike) -> None:
    """Give ``path`` and, for a folder, everything under it the user's umask:
    ``0o666 & ~umask`` for files, ``0o777 & ~umask`` for folders. Symlinks
    are neither followed nor changed."""
    mask = current_umask()
    path = Path(path)
    if path.is_symlink():
        return
    if not path.is_dir():
        os.chmod(path, 0o666 & ~mask)
        return
    os.chmod(path, 0o777 & ~mask)
    for root, dirs, files in os.walk(path):
        for name in dirs:
            child = os.path.join(root, name)
            if not os.path.islink(child):
                os.chmod(child, 0o777 & ~mask)
        for name in files:
            child = os.path.join(root, name)
            if not os.path.islink(child):
                os.chmod(child, 0o666 & ~mask)


def _fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable (where the OS supports fsync on folders)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fsync_file(path: PathLike) -> None:
    """Flush a written file to disk before it is renamed into place."""
    with open(path, "rb") as file_:
        os.fsync(file_.fileno())


# -- checks before the work starts -------------------------------------------------


def _absolute(path: PathLike) -> Path:
    """``path`` made absolute without resolving symlinks (``.`` becomes the cwd)."""
    return Path(os.path.abspath(os.fspath(path)))


def _check_location(path: Path, *, shown: Path) -> None:
    """Raise unless every existing ancestor of ``path`` is a folder and the
    nearest one is writable (so ``path`` and a temporary sibling can be made)."""
    for ancestor in path.parents:
        if os.path.lexists(ancestor):
            if not ancestor.is_dir():
                raise UserError(f"{shown}: {ancestor} is a file, not a folder, so nothing can be written under it")
            if not os.access(ancestor, os.W_OK | os.X_OK):
                raise UserError(f"{shown}: cannot write in {ancestor} (permission denied)")
            return


def check_output_file(path: PathLike, *, overwrite: bool = False, what: str = "output file") -> None:
    """Raise ``UserError`` now if ``path`` cannot receive a new file.

    An existing file is refused unless ``overwrite`` (``--overwrite``); a
    folder, a path under a file and an unwritable folder always are.
    """
    absolute = _absolute(path)
    if os.path.lexists(absolute):
        if absolute.is_dir():
            raise UserError(f"{path}: is a folder; the {what} must be a file")
        if not overwrite:
            raise UserError(f"{path}: the {what} exists; pass --overwrite to replace it, or choose a new name")
        if not os.access(absolute, os.W_OK):
            raise UserError(f"{path}: cannot replace the {what} (permission denied)")
    _check_location(absolute, shown=Path(path))


def check_writable_dir(path: PathLike, *, what: str = "output folder") -> None:
    """Raise ``UserError`` unless ``path`` is a folder we can write in, or can
    be created (no file in the way, the nearest existing folder writable).
    Whatever the folder holds is not looked at (see :func:`check_output_dir`)."""
    absolute = _absolute(path)
    if os.path.lexists(absolute) and not absolute.is_dir():
        raise UserError(f"{path}: exists and is not a folder; the {what} must be a folder")
    _check_location(absolute, shown=Path(path))
    if absolute.is_dir() and not os.access(absolute, os.W_OK | os.X_OK):
        raise UserError(f"{path}: cannot write in the {what} (permission denied)")


@dataclass
class Manifest:
    """What an earlier output of ours holds: the command that wrote it and its paths."""

    path: Path
    command: Optional[str]
    files: List[str]


def read_manifest(folder: PathLike) -> Optional[Manifest]:
    """The manifest of ``folder`` (None when it has none), validated: ``files``
    must be a list of relative paths inside ``folder``, or
    :class:`~spacy_lm_suite.errors.InputFormatError` is raised."""
    folder = _absolute(folder)
    path = folder / MANIFEST_FILE
    if not os.path.lexists(path):
        return None
    if path.is_symlink() or not path.is_file():
        raise InputFormatError(path, "expected our manifest file, found a link or a folder")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputFormatError(path, f"expected our JSON manifest ({err})") from None
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        raise InputFormatError(path, f"expected a JSON object with \"format\": \"{MANIFEST_FORMAT}\"")
    files = data.get("files")
    if not isinstance(files, list) or not all(isinstance(entry, str) for entry in files):
        raise InputFormatError(path, "expected \"files\" to be a list of relative paths", found=repr(files))
    command = data.get("command")
    for entry in files:
        _inside(folder, entry, manifest=path)
    return Manifest(path=path, command=command if isinstance(command, str) else None, files=list(files))


def _inside(folder: Path, entry: str, *, manifest: Path) -> Path:
    """``folder / entry`` after checking that it cannot point outside ``folder``:
    a relative POSIX path without ``.``/``..`` parts whose parent folders,
    with symlinks resolved, are ``folder`` or inside it."""
    parts = entry.split("/")
    if (
        not entry
        or "\x00" in entry
        or "\\" in entry
        or PurePosixPath(entry).is_absolute()
        or any(part in ("", ".", "..") for part in parts)
        or entry == MANIFEST_FILE
    ):
        raise InputFormatError(manifest, "lists a path that is not a plain relative path inside the folder; nothing deleted", found=entry)
    root = folder.resolve()
    parent = (folder / entry).parent.resolve()
    if parent != root and root not in parent.parents:
        raise InputFormatError(manifest, "lists a path that leads outside the folder (through a symlink); nothing deleted", found=entry)
    return folder / entry


def check_output_dir(
    path: PathLike,
    *,
    overwrite: bool = False,
    command: Optional[str] = None,
    what: str = "output folder",
    hint: str = "",
    overwrite_option: Optional[str] = "--overwrite",
) -> Optional[Manifest]:
    """Raise ``UserError`` now if ``path`` may not receive our output; return
    the manifest of the earlier output that ``overwrite`` will replace (None
    for a new or empty folder).

    Refused: a file, a path under a file, a folder we cannot write in, a
    non-empty folder without ``overwrite``, and, even with ``overwrite``, a
    non-empty folder without our manifest or whose manifest names another
    ``command``. ``hint`` is added to the "not empty" messages (e.g. other
    options that continue a run); ``overwrite_option`` is how the command
    spells ``overwrite`` (None: it has no such option, and messages don't
    mention one).
    """
    check_writable_dir(path, what=what)
    absolute = _absolute(path)
    if not absolute.is_dir():
        return None
    # temporary folders of ours (a writer killed mid-way leaves one) do not count
    entries = [entry.name for entry in absolute.iterdir() if not entry.name.startswith(TMP_PREFIX)]
    if not entries:
        return None
    manifest = read_manifest(absolute)
    extra = f"; {hint}" if hint else ""
    replace = f"{overwrite_option} replaces only an earlier output of {command or 'the same command'}" if overwrite_option else ""
    if manifest is None:
        raise UserError(
            f"{path}: the {what} exists and is not empty, and holds no output of spacy-lm-suite "
            f"(no {MANIFEST_FILE}); choose a new or empty folder" + (f" ({replace})" if replace else "") + extra
        )
    if command is not None and manifest.command != command:
        raise UserError(
            f"{path}: the {what} is not empty and holds the output of {manifest.command or 'another command'}, "
            f"not of {command}; choose a new or empty folder" + (f" ({replace})" if replace else "") + extra
        )
    if not overwrite:
        raise UserError(
            f"{path}: the {what} exists and is not empty"
            + (f"; pass {overwrite_option} to replace the earlier output of {command or manifest.command} there, or choose a new or empty folder" if overwrite_option else "; choose a new or empty folder")
            + extra
        )
    return manifest


# -- writing --------------------------------------------------------------------------


def write_manifest(folder: PathLike, *, command: str, files: Iterable[str]) -> None:
    """Record (atomically) that ``files`` (relative paths) in ``folder`` are ours."""
    write_json_atomic(
        Path(folder) / MANIFEST_FILE,
        {"format": MANIFEST_FORMAT, "version": 1, "command": command, "files": sorted(set(files))},
    )


def remove_listed(folder: PathLike, manifest: Manifest, *, keep: Iterable[str] = ()) -> None:
    """Delete the paths ``manifest`` lists in ``folder`` (all but ``keep``).

    Each was checked by :func:`read_manifest` to lie inside ``folder``; a
    symlink is removed itself (never followed), a real folder with its
    contents. Folders left empty by the removal, up to ``folder``, go too.
    """
    folder = _absolute(folder)
    kept = set(keep)
    for entry in manifest.files:
        if entry in kept:
            continue
        target = _inside(folder, entry, manifest=manifest.path)  # checked again: the tree may have changed
        if target.is_symlink() or (os.path.lexists(target) and not target.is_dir()):
            target.unlink()
        elif target.is_dir():
            shutil.rmtree(target)
        else:
            continue
        parent = target.parent
        while parent != folder and parent.is_dir() and not parent.is_symlink() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent


def _written_files(root: Path) -> List[str]:
    """Relative POSIX paths of the files (and symlinks) under ``root``."""
    found = []
    for directory, dirs, files in os.walk(root):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(directory, d))]:
            found.append(Path(directory, name).relative_to(root).as_posix())
    return sorted(name for name in found if name != MANIFEST_FILE)


@contextmanager
def atomic_output_dir(path: PathLike, *, command: str, overwrite: bool = False) -> Iterator[Path]:
    """``with atomic_output_dir(out, command="convert-vectors") as tmp:`` write
    the output into ``tmp``; on success it becomes ``out``.

    A new ``out`` is a temporary sibling folder renamed into place. An
    existing one (empty, or an earlier output of ``command`` with
    ``overwrite``) gets the new files moved in and the paths of its old
    manifest that the new output does not write deleted; files the user
    added survive, and a new file that would replace one of theirs is an
    error before anything changes. The manifest lists what was written. On
    an error inside the block nothing changes and ``tmp`` is removed.
    """
    shown = Path(path)
    target = _absolute(path)
    check_output_dir(shown, overwrite=overwrite, command=command)
    exists = target.is_dir()
    if exists:
        tmp = Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=target))
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}{TMP_PREFIX[1:]}", dir=target.parent))
    try:
        yield tmp
        fix_permissions(tmp)
        new_files = _written_files(tmp)
        if not exists:
            write_manifest(tmp, command=command, files=new_files)
            os.rename(tmp, target)
            _fsync_dir(target.parent)
            return
        # the folder may have changed while we wrote: check it again
        old = check_output_dir(shown, overwrite=overwrite, command=command)
        old_files = set(old.files) if old is not None else set()
        _check_no_conflicts(target, new_files, old_files, shown=shown)
        # a kill from here on leaves a folder whose manifest still covers every path of ours
        write_manifest(target, command=command, files=old_files | set(new_files))
        if old is not None:
            remove_listed(target, old, keep=[name for name in new_files if not (target / name).is_dir()])
        for name in new_files:
            destination = target / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp / name, destination)
        for stale in target.glob(TMP_PREFIX + "*"):  # ours, by name; this one and any a killed writer left
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale)
        write_manifest(target, command=command, files=new_files)
        _fsync_dir(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _check_no_conflicts(target: Path, new_files: Sequence[str], old_files: set, *, shown: Path) -> None:
    """Raise if a new file would replace, or need to pass through, a path the
    earlier output did not write (a file the user put there)."""
    for name in new_files:
        parts = name.split("/")
        for depth in range(1, len(parts) + 1):
            prefix = "/".join(parts[:depth])
            candidate = target / prefix
            if not os.path.lexists(candidate) or prefix in old_files:
                continue
            last = depth == len(parts)
            if last or candidate.is_symlink() or not candidate.is_dir():
                raise UserError(
                    f"{shown}: the output would replace {prefix}, which the earlier output did not write; "
                    "move it away or choose another folder (nothing was changed)"
                )


def claim_output_dir(
    path: PathLike,
    *,
    command: str,
    files: Iterable[str],
    overwrite: bool = False,
    hint: str = "",
    overwrite_option: Optional[str] = "--overwrite",
) -> bool:
    """Make ``path`` the folder of a run that writes it step by step (a
    training run), recording in its manifest the paths it may write.

    The checks are :func:`check_output_dir`'s; with ``overwrite`` the paths
    of the earlier run's manifest are deleted first (only those). Returns
    whether the folder was created by this call.
    """
    manifest = check_output_dir(path, overwrite=overwrite, command=command, hint=hint, overwrite_option=overwrite_option)
    target = _absolute(path)
    created = not target.exists()
    if manifest is not None:
        remove_listed(target, manifest)
    target.mkdir(parents=True, exist_ok=True)
    write_manifest(target, command=command, files=files)
    return created


@contextmanager
def atomic_write_file(path: PathLike) -> Iterator[Path]:
    """``with atomic_write_file(out) as tmp:`` write the file ``tmp`` (same
    folder, same suffix, so writers that look at the extension work); on
    success it is fsynced, given the umask and renamed over ``out``; on error
    it is removed and ``out`` is unchanged."""
    target = _absolute(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{target.suffix}", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        fsync_file(tmp)
        fix_permissions(tmp)
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: PathLike, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    with atomic_write_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(path: PathLike, data: Any, *, indent: int = 2) -> None:
    """Write ``data`` as UTF-8 JSON to ``path`` atomically."""
    write_text_atomic(path, json.dumps(data, indent=indent, ensure_ascii=False) + "\n")


def save_safetensors_atomic(
    path: PathLike, tensors: Mapping[str, Any], metadata: Optional[Dict[str, str]] = None
) -> None:
    """Write numpy arrays or torch tensors to a safetensors file atomically,
    with the umask's permissions (``save_file`` alone makes 0600)."""
    values = list(tensors.values())
    with atomic_write_file(path) as tmp:
        if values and hasattr(values[0], "detach"):
            from safetensors.torch import save_file as save_torch

            save_torch({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp), metadata=metadata)
        else:
            import numpy
            from safetensors.numpy import save_file as save_numpy

            save_numpy({k: numpy.ascontiguousarray(v) for k, v in tensors.items()}, str(tmp), metadata=metadata)

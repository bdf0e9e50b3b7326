"""Paths checked before any work: a command that would measure or prune for minutes first makes sure it
can write where it was asked to, and that what it reads is there.

    check_output_dir("results", "--results")    # a writable directory, or one that can be created
    check_output_file("out/sweep.md", "--out")   # a file that can be written (its directory, as above)
    check_input_dir("fleet/", "PLAN")            # an existing directory
    check_input_file("prices.csv", "--prices")   # an existing regular file
    files_in("data/sst2", ["dev.tsv"], "data directory", "SST-2 layout: train.tsv, dev.tsv")   # a directory's files

A directory passes when it exists and is writable, or when it does not exist and its nearest existing
ancestor is a writable directory (never a file). Nothing is created or written by the checks. Each
problem is a one-line ConfigError naming the flag, the path (shortened) and why.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ConfigError

NAME_MAX = 255  # bytes in one path component (Linux, macOS)
PATH_MAX = 4096
SHOWN_CHARS = 160


def _show(path) -> str:
    text = repr(str(path))
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 3] + "..."


def _why_not_writable(directory: str) -> str:
    try:
        if os.statvfs(directory).f_flag & os.ST_RDONLY:
            return "read-only file system"
    except OSError:
        pass
    return "permission denied"


def check_path_text(path, flag: str) -> str:
    """`path` as text a file system could accept (not empty, no NUL byte, not too long); ConfigError otherwise."""
    text = os.fspath(path) if isinstance(path, (str, os.PathLike)) else None
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"{flag}: expected a path, got {_show(path)}")
    if "\0" in text:
        raise ConfigError(f"{flag}: a path cannot contain a NUL byte, got {_show(text)}")
    if len(os.fsencode(text)) > PATH_MAX or any(len(os.fsencode(part)) > NAME_MAX for part in Path(text).parts):
        raise ConfigError(f"{flag}: path too long (at most {NAME_MAX} bytes per name, {PATH_MAX} in all): {_show(text)}")
    return text


def _writable_dir(directory: str, flag: str, given: str) -> None:
    if not os.access(directory, os.W_OK | os.X_OK):
        where = "" if os.path.abspath(given) == os.path.abspath(directory) else f" (to create {_show(given)})"
        raise ConfigError(f"{flag}: cannot write to {_show(directory)}{where}: {_why_not_writable(directory)}")


def check_output_dir(path, flag: str) -> Path:
    """`path` as a directory this process can write into (now, or after creating it); ConfigError otherwise."""
    text = check_path_text(path, flag)
    target = os.path.abspath(text)
    if os.path.exists(target):
        if not os.path.isdir(target):
            raise ConfigError(f"{flag}: {_show(text)} is a file, not a directory")
        _writable_dir(target, flag, text)
        return Path(text)
    current = target
    while not os.path.exists(current):
        if os.path.lexists(current):
            raise ConfigError(f"{flag}: {_show(current)} is a symbolic link to nothing")
        parent = os.path.dirname(current)
        if parent == current:
            raise ConfigError(f"{flag}: no part of {_show(text)} exists")
        current = parent
    if not os.path.isdir(current):
        raise ConfigError(f"{flag}: cannot create {_show(text)}: {_show(current)} is a file, not a directory")
    _writable_dir(current, flag, text)
    return Path(text)


def check_output_file(path, flag: str) -> Path:
    """`path` as a file this process can write (replace) atomically; ConfigError otherwise."""
    text = check_path_text(path, flag)
    if os.path.isdir(text):
        raise ConfigError(f"{flag}: {_show(text)} is a directory, not a file")
    check_output_dir(os.path.dirname(os.path.abspath(text)), flag)
    return Path(text)


def check_input_dir(path, flag: str) -> Path:
    """`path` as an existing directory; ConfigError otherwise."""
    return _check_input(path, flag, os.path.isdir, "a directory")


def check_input_file(path, flag: str) -> Path:
    """`path` as an existing regular file; ConfigError otherwise."""
    return _check_input(path, flag, os.path.isfile, "a regular file")


def _check_input(path, flag: str, is_kind, kind: str) -> Path:
    text = check_path_text(path, flag)
    if not is_kind(text):
        missing = not os.path.lexists(text)
        raise ConfigError(f"{flag}: {_show(text)} {'does not exist' if missing else 'is not ' + kind}")
    return Path(text)


def files_in(directory, names, what: str, layout: str = "") -> list[Path]:
    """directory/name for each of `names`, when `directory` exists and holds them all; otherwise a one-line
    ConfigError naming the `what` ("data directory") and, for a missing file, the `layout` it should have."""
    path = Path(directory)
    if not path.is_dir():
        raise ConfigError(f"{what} {str(path)!r} does not exist")
    for name in names:
        if not (path / name).is_file():
            raise ConfigError(f"{what} {str(path)!r} has no {name}" + (f" ({layout})" if layout else ""))
    return [path / name for name in names]


def check_replaceable_output(path, flag: str, *, what: str, owned) -> Path:
    """`path` as an output a command writes whole (and may replace): it does not exist yet, is an empty directory,
    or holds `what` the harness wrote before, as `owned(path)` (a function) or a marker file of that name
    recognises it. Anything else is refused in one line: nothing a user owns is replaced or deleted.

        check_replaceable_output(args.out, "--out", what="a compression output", owned="compress.json")

    Call it before any work; the write itself then goes beside the target and is renamed into place
    (harness.foundation.fsutil.atomic_write_dir), so a reader sees the old output or the new one."""
    checked = check_output_dir(path, flag)
    target = Path(os.path.abspath(os.fspath(checked)))
    if not target.is_dir():
        return checked
    entries = sorted(p.name for p in target.iterdir())
    if not entries:
        return checked
    mine = owned(target) if callable(owned) else (target / owned).is_file()
    if not mine:
        count = f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}"
        raise ConfigError(f"{flag}: {_show(checked)} exists and is not {what} (it holds {count} the harness did not "
                          f"write, e.g. {_show(entries[0])}); choose a new or empty directory: nothing in it is replaced")
    return checked

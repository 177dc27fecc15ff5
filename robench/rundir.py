"""Output directories that robench runs write into: created with a clear error, held by one run at a time, and
written file by file atomically, so an interrupted run never leaves a half-written file behind.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

from robench.errors import RobenchError, read_json

LOCK_NAME = ".robench.lock"


def make_dir(path: str | Path, what: str = "output directory") -> Path:
    """``path`` as an existing directory (created with its parents); a file in the way is a one-line error."""
    path = Path(path).expanduser()
    blocker = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise RobenchError(f"cannot use {path} as the {what}: {blocker} is a file, not a directory",
                           hint="choose another --out directory, or move that file away")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RobenchError(f"cannot create the {what} {path}: {err.strerror}",
                           hint="choose a writable --out directory") from None
    return path


def atomic_write(path: str | Path, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same directory and an atomic rename."""
    path = Path(path)
    make_dir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes files private; these are results meant to be read and shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


class RunLock:
    """An exclusive lock on a run directory for as long as a run writes there.

    The lock is an ``flock`` on a file inside the directory, so it is released by the operating system when
    the holder exits in any way (a kill -9 included) and never needs cleaning up by hand. The file names the
    holder, so a second run can say who it is waiting for.
    """

    def __init__(self, directory: str | Path, what: str = "run"):
        self.path = make_dir(directory) / LOCK_NAME
        self.what = what
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise RobenchError(f"{self.path.parent} is in use by another {self.what} ({holder})",
                               hint="wait for it to finish, or give this one another --out directory") from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                 "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                 "command": " ".join(sys.argv)}).encode())
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the flock
            self._fd = None


def _read_holder(fd: int) -> str:
    try:
        holder = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return f"pid {holder['pid']} on {holder['host']} since {holder['since']}: {holder['command']}"
    except (ValueError, KeyError, TypeError):
        return "holder unknown"


def config_differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    """``key: old -> new`` for every setting that differs between two configurations, nested keys dotted."""
    changes = []
    for key in sorted(set(old) | set(new), key=str):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            changes += config_differences(a, b, f"{prefix}{key}.")
        elif a != b:
            changes.append(f"{prefix}{key}: {_short(a)} -> {_short(b)}")
    return changes


def _short(value) -> str:
    if isinstance(value, list) and value and all(isinstance(v, dict) and "name" in v for v in value):
        # an attack suite differs in its attacks' names, or else in their settings
        names = [v["name"] for v in value]
        text = "+".join(names) if len(set(names)) == len(names) else ""
        if text:
            return text
    text = json.dumps(value, separators=(",", ":"), sort_keys=True)
    return text if len(text) <= 60 else text[:57] + "..."


def claim(directory: str | Path, request_file: str, request: dict, what: str, *, free: tuple[str, ...] = ()) -> Path:
    """Make ``directory`` the run directory of ``request`` (kept in ``request_file``), or check that it is one
    already, so that repeating a command resumes it. Another request is refused naming every changed setting
    (the keys in ``free`` may change between invocations); a non-empty directory that holds no such run is
    refused. ``what`` names the run in messages, with its article: "a search"."""
    directory = Path(directory)
    path = directory / request_file
    if path.is_file():
        recorded = read_json(path, f"request of {what}", hint=_start_over(directory))
        refusal = other_settings(directory, what, recorded, request, free=free)
        if refusal is not None:
            raise refusal
        return path
    if directory.is_dir() and any(p.name != LOCK_NAME for p in directory.iterdir()):
        raise RobenchError(f"{directory} exists and does not hold {what}",
                           hint="choose an empty or new --out directory")  # fmt: skip
    make_dir(directory, f"directory of {what}")
    return atomic_write(path, json.dumps(request, indent=2, sort_keys=True) + "\n")


def other_settings(directory: Path, what: str, recorded: dict, requested: dict, *,
                   free: tuple[str, ...] = ()) -> RobenchError | None:
    """The refusal of a run directory that holds a run with other settings than those requested, naming each;
    None when no setting differs."""
    ignored = dict.fromkeys(free)
    changes = config_differences({**recorded, **ignored}, {**requested, **ignored})
    if not changes:
        return None
    return RobenchError(f"{directory} holds {what} with other settings ({'; '.join(changes)})",
                        hint="repeat the original command to resume it, or use another --out directory")


def mismatch(directory: Path, what: str, recorded: dict, requested: dict) -> RobenchError:
    """The refusal of a run whose configuration hash is not the request's: its changed settings, else the hash."""
    return other_settings(directory, what, recorded, requested) or RobenchError(
        f"{directory} holds {what} whose configuration hash is not this request's", hint=_start_over(directory))


def _start_over(directory: Path) -> str:
    return f"delete {directory} to start over, or use another --out directory"

"""Files into and out of a work directory that sandboxed code controls, without following links.

Every path is opened one component at a time from a directory file descriptor with
`O_NOFOLLOW`, so a symbolic link the sandboxed code planted (to `/etc/passwd`, to the worker's
home, to `/`) is never followed, whichever mount namespace the caller resolves it in. Reads use
`O_NONBLOCK` so that a FIFO cannot block them, and keep regular files only.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import PurePosixPath

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
MAX_ENTRIES = 100_000  # entries a glob or a size walk visits before it stops
MAX_DEPTH = 64
_TEMP_PREFIX = ".bosun-copy-"


def relative_parts(path: str) -> tuple[str, ...]:
    """The components of a relative path inside a work directory; ValueError if it leaves it."""
    if not path or "\0" in path or path.startswith("/"):
        raise ValueError(f"sandbox paths must be relative and non-empty: {path!r}")
    parts = tuple(p for p in PurePosixPath(path).parts if p != ".")
    if not parts or ".." in parts:
        raise ValueError(f"sandbox paths must stay inside the work directory: {path!r}")
    return parts


def open_dir(path: str | os.PathLike[str], dir_fd: int | None = None) -> int:
    """Open a directory (not a link to one) for use as a `dir_fd`."""
    return os.open(path, DIR_FLAGS, dir_fd=dir_fd)


@contextlib.contextmanager
def _walk_to(root_fd: int, parts: tuple[str, ...], owner: tuple[int, int] | None) -> Iterator[int]:
    """Yield an fd of the directory `parts` under `root_fd`, creating it when `owner` is set."""
    fd = os.dup(root_fd)
    try:
        for part in parts:
            if owner is not None:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o755, dir_fd=fd)
                    if owner != (-1, -1):
                        os.chown(part, *owner, dir_fd=fd, follow_symlinks=False)
            child = os.open(part, DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


def write_files(root_fd: int, files: Mapping[str, bytes], owner: tuple[int, int]) -> None:
    """Write `files` under `root_fd`, replacing what is there (a link is replaced, not followed).

    `owner` is the (uid, gid) to give new files and directories, or (-1, -1) to keep ours.
    """
    for path, data in files.items():
        *dirs, name = relative_parts(path)
        with _walk_to(root_fd, tuple(dirs), owner) as dir_fd:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=dir_fd)
            fd = os.open(name, WRITE_FLAGS, 0o644, dir_fd=dir_fd)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                if owner != (-1, -1):
                    os.fchown(fd, *owner)
            finally:
                os.close(fd)


def _read_regular(dir_fd: int, name: str, max_bytes: int) -> bytes | None:
    try:
        fd = os.open(name, READ_FLAGS, dir_fd=dir_fd)
    except OSError:
        return None  # missing, a link, or unreadable
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > max_bytes:
            return None
        chunks = []
        left = max_bytes + 1
        while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        return data if len(data) <= max_bytes else None
    finally:
        os.close(fd)


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A regex for a glob over relative paths: `*` and `?` stay within one component, `**`
    crosses them, `[...]` is a character class."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[" and (end := pattern.find("]", i + 2)) != -1:
            body = pattern[i + 1 : end]
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            i = end + 1
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("".join(out) + r"\Z")


def _is_glob(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


def _walk(root_fd: int) -> Iterator[tuple[int, str, os.DirEntry[str]]]:
    """Every entry under `root_fd` as (its directory's fd, its relative path, the entry), never
    descending through a link; stops after `MAX_ENTRIES` entries or `MAX_DEPTH` levels."""
    seen = 0
    stack: list[tuple[int, str, int]] = [(os.dup(root_fd), "", 0)]
    try:
        while stack:
            fd, prefix, depth = stack.pop()
            try:
                with os.scandir(fd) as entries:
                    for entry in entries:
                        seen += 1
                        if seen > MAX_ENTRIES:
                            return
                        rel = prefix + entry.name
                        yield fd, rel, entry
                        if depth < MAX_DEPTH and entry.is_dir(follow_symlinks=False):
                            with contextlib.suppress(OSError):
                                child = open_dir(entry.name, dir_fd=fd)
                                stack.append((child, rel + "/", depth + 1))
            finally:
                os.close(fd)
    finally:
        for fd, _, _ in stack:
            os.close(fd)


def collect_files(root_fd: int, patterns: list[str], max_bytes: int) -> dict[str, bytes]:
    """Regular files under `root_fd` named by `patterns` (paths or globs), each ≤ `max_bytes`;
    links, missing files and bigger files are left out."""
    found: dict[str, bytes] = {}
    globs = []
    for pattern in patterns:
        if _is_glob(pattern):
            relative_parts(pattern)
            globs.append(glob_regex("/".join(relative_parts(pattern))))
            continue
        *dirs, name = relative_parts(pattern)
        try:
            with _walk_to(root_fd, tuple(dirs), None) as dir_fd:
                data = _read_regular(dir_fd, name, max_bytes)
        except OSError:
            continue
        if data is not None:
            found["/".join((*dirs, name))] = data
    if globs:
        for dir_fd, rel, entry in _walk(root_fd):
            if rel in found or not any(g.match(rel) for g in globs):
                continue
            if entry.is_file(follow_symlinks=False):
                data = _read_regular(dir_fd, entry.name, max_bytes)
                if data is not None:
                    found[rel] = data
    return found


def tree_size(root_fd: int) -> int:
    """Bytes of the regular files under `root_fd` (their sizes: what a copy of them takes)."""
    total = 0
    for _, _, entry in _walk(root_fd):
        with contextlib.suppress(OSError):
            if entry.is_file(follow_symlinks=False):
                total += entry.stat(follow_symlinks=False).st_size
    return total


Creating = Callable[[], AbstractContextManager[object]]


@dataclass
class _Copy:
    prune: bool
    creating: Creating  # entered around each change to the destination
    bytes_left: int
    entries_left: int = MAX_ENTRIES


def copy_tree(
    src_fd: int,
    dst_fd: int,
    *,
    max_bytes: int,
    prune: bool = False,
    creating: Creating = contextlib.nullcontext,
) -> None:
    """Copy the directories and regular files under `src_fd` into `dst_fd`, up to `max_bytes`
    of file sizes (sparse files count in full: the copy is not sparse); links and special
    files are skipped, files of the same size and mtime left alone. With `prune`, what `dst_fd`
    holds and `src_fd` does not is removed (a mirror). `creating()` is entered around every
    change to the destination (to change there under other filesystem ids, say)."""
    _copy_dir(src_fd, dst_fd, 0, _Copy(prune, creating, max_bytes))


def _copy_dir(src: int, dst: int, depth: int, job: _Copy) -> None:
    kept: set[str] = set()
    with os.scandir(src) as entries:
        listing = list(entries)
    for entry in listing:
        job.entries_left -= 1
        if job.entries_left < 0 or entry.name.startswith(_TEMP_PREFIX):
            continue
        info = entry.stat(follow_symlinks=False)
        if stat.S_ISDIR(info.st_mode) and depth < MAX_DEPTH:
            kept.add(entry.name)
            _copy_subdir(src, dst, entry.name, depth, job)
        elif stat.S_ISREG(info.st_mode) and info.st_size <= job.bytes_left:
            job.bytes_left -= info.st_size
            kept.add(entry.name)
            _copy_file(src, dst, entry.name, info, job.creating)
    if job.prune:
        with os.scandir(dst) as entries:
            extra = [entry for entry in entries if entry.name not in kept]
        for entry in extra:
            with job.creating():
                _remove(dst, entry.name)


def _copy_subdir(src: int, dst: int, name: str, depth: int, job: _Copy) -> None:
    existing = _lstat(dst, name)
    if existing is None or not stat.S_ISDIR(existing.st_mode):
        with job.creating():
            if existing is not None:
                _remove(dst, name)
            os.mkdir(name, 0o755, dir_fd=dst)
    src_child = open_dir(name, dir_fd=src)
    try:
        dst_child = open_dir(name, dir_fd=dst)
        try:
            _copy_dir(src_child, dst_child, depth + 1, job)
        finally:
            os.close(dst_child)
    finally:
        os.close(src_child)


def _copy_file(src: int, dst: int, name: str, info: os.stat_result, creating: Creating) -> None:
    there = _lstat(dst, name)
    if (
        there is not None
        and stat.S_ISREG(there.st_mode)
        and (there.st_size, there.st_mtime_ns) == (info.st_size, info.st_mtime_ns)
    ):
        return
    try:
        fd_in = os.open(name, READ_FLAGS, dir_fd=src)
    except OSError:
        return  # replaced by a link or removed meanwhile
    temp = _TEMP_PREFIX + name
    try:
        with creating():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp, dir_fd=dst)
            fd_out = os.open(temp, WRITE_FLAGS, 0o600, dir_fd=dst)
        try:
            left = info.st_size  # as budgeted: a file that grew meanwhile is cut there
            while left > 0 and (chunk := os.read(fd_in, min(left, 1 << 20))):
                left -= len(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd_out, view) :]
            os.fchmod(fd_out, info.st_mode & 0o777)
            os.utime(fd_out, ns=(info.st_atime_ns, info.st_mtime_ns))
        finally:
            os.close(fd_out)
        with creating():
            if there is not None and stat.S_ISDIR(there.st_mode):
                _remove(dst, name)
            os.replace(temp, name, src_dir_fd=dst, dst_dir_fd=dst)
    finally:
        os.close(fd_in)


def _lstat(dir_fd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _remove(dir_fd: int, name: str) -> None:
    info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    if stat.S_ISDIR(info.st_mode):
        shutil.rmtree(name, dir_fd=dir_fd)
    else:
        os.unlink(name, dir_fd=dir_fd)

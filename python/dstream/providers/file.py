"""dstream-file: an output that appends envelopes to JSON-lines files, fsync'ed before
each checkpoint is acknowledged. The reference durable output (the crash-test suite
checks at-least-once delivery against it).

`path` is a file, or a pattern with `{TableName}` for one file per table (relative to
the working directory; directories are created). `format = "envelope"` stores each
frame exactly as it arrived; `"data"` stores only its `data` value.
"""

from __future__ import annotations

import errno
import os
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal, Optional

from dstream.errors import ConfigError, DstreamError
from dstream.protocol.frames import META_TABLE
from dstream.sdk import (
    Envelope,
    OutputProvider,
    ProviderConfig,
    as_text,
    dump_json,
    log,
    run_provider,
)

TABLE_PLACEHOLDER = "{TableName}"
# Envelopes without metadata.TableName go to this table's file under a pattern.
NO_TABLE = "_unknown"
# Open files kept per pattern; the least recently used is synced and closed beyond it.
MAX_OPEN_FILES = 128
# Table names whose file path is remembered (the memo starts over beyond it).
MAX_TABLE_PATHS = 4096
# Kept in a file name as they are; anything else is percent-encoded, as Hive encodes a
# partition value: two table names never share a file, and the name reads back.
_SAFE_IN_NAME = re.compile(r"[^\W_]|[._-]")


@dataclass
class FileConfig(ProviderConfig):
    path: str
    format: Literal["envelope", "data"] = "envelope"
    fsync: bool = True  # fsync before acknowledging a checkpoint (and at the end)

    def validate(self) -> None:
        if not self.path.strip():
            raise ConfigError(
                "config key 'path' for file must not be empty",
                hint='name the file to write, e.g. path = "out.jsonl"',
            )
        rest = self.path.replace(TABLE_PLACEHOLDER, "")
        if "{" in rest or "}" in rest:
            raise ConfigError(
                f"config key 'path' for file has a placeholder other than {TABLE_PLACEHOLDER}: "
                f"{self.path!r}",
                hint="the only placeholder is {TableName}",
            )


def table_file_name(table: Optional[object]) -> str:
    """A table name as one path component: letters (any script), digits, `.`, `_` and
    `-` as they are, every other character as %XX of its UTF-8 bytes ("dbo.orders"
    stays, "Order Details" becomes "Order%20Details", "a/b" "a%2Fb"); the first
    character of `.`, `..` and NO_TABLE too. Distinct names get distinct files."""
    if table in (None, ""):
        return NO_TABLE
    text = as_text(table)
    if text in (".", "..", NO_TABLE):  # not a directory; not the file of no table
        return _percent(text[0]) + text[1:]
    return "".join(ch if _SAFE_IN_NAME.fullmatch(ch) else _percent(ch) for ch in text)


def _percent(ch: str) -> str:
    return "".join(f"%{byte:02X}" for byte in ch.encode("utf-8", "surrogatepass"))


def _write_all(fd: int, data: bytes, path: str) -> None:
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view) :]
    except OSError as exc:
        raise write_error(path, exc) from None


def write_error(path: str, exc: OSError) -> DstreamError:
    """A failed write or fsync: nothing after the last acknowledged checkpoint is
    acknowledged, so the next run resumes from there once the cause is fixed."""
    hint = "check the path and its permissions"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        hint = "the disk (or a quota or file size limit) is full: free space, then run again"
    return DstreamError(
        f"cannot write {path}: {exc.strerror or exc}",
        hint=hint + "; nothing unwritten was acknowledged, the next run resumes from the "
        "last stored checkpoint",
    )


def open_error(path: str, pattern: str, exc: OSError) -> ConfigError:
    """A file the output cannot open or create: `path` is that file, `pattern` the
    config key's value it came from (the same without {TableName})."""
    where = f"{path!r}" if path == pattern else f"{path!r} (from {pattern!r})"
    # makedirs meeting a file where a directory goes says "File exists": of that file
    why = os.strerror(errno.ENOTDIR) if exc.errno == errno.EEXIST else exc.strerror or exc
    return ConfigError(
        f"config key 'path': cannot open {where}: {why}",
        hint=_open_hint(path, pattern, exc),
    )


def _open_hint(path: str, pattern: str, exc: OSError) -> str:
    if exc.errno == errno.EISDIR and path == pattern:
        return f'it is a directory: name a file in it, e.g. path = "{path.rstrip("/")}/out.jsonl"'
    if exc.errno == errno.EISDIR:
        return "it is a directory: move it, or choose another path"
    if exc.errno in (errno.ENOTDIR, errno.EEXIST):
        blocking = _file_in_the_way(path)
        what = f"{blocking!r} is a file" if blocking else "a part of it is a file"
        return f"{what}, not a directory: move it, or choose another path"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return (
            "the output may not create or append to it: give the user dstream runs as "
            f"write permission on {_nearest_existing(path)!r}, or choose another path"
        )
    if exc.errno == errno.EROFS:
        return "the filesystem is read-only: choose a path on a writable one"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "the disk (or a quota) is full: free space, then run again"
    return "check the path and its permissions, or choose another path"


def _file_in_the_way(path: str) -> Optional[str]:
    """The first existing ancestor of `path` that is not a directory, as written."""
    parts = os.path.normpath(os.path.dirname(path) or ".").split(os.sep)
    for end in range(1, len(parts) + 1):
        prefix = os.sep.join(parts[:end]) or os.sep
        if os.path.lexists(prefix) and not os.path.isdir(prefix):
            return prefix
    return None


def _nearest_existing(path: str) -> str:
    """`path` if it exists, else its nearest existing ancestor directory."""
    current = path
    while current and not os.path.lexists(current):
        current = os.path.dirname(current.rstrip(os.sep))
    return current or "."


class File(OutputProvider[FileConfig]):
    name = "file"
    config_class = FileConfig

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.files: OrderedDict[str, int] = OrderedDict()  # path -> fd
        self.unsynced: set[str] = set()
        self.new_dirs: set[str] = set()
        self.table_paths: dict[str, str] = {}  # metadata.TableName -> its file

    @property
    def per_table(self) -> bool:
        return TABLE_PLACEHOLDER in self.config.path

    @property
    def raw_frames(self) -> bool:
        # One file, whole envelopes: append the bytes as they came, no decoding.
        return not self.per_table and self.config.format == "envelope"

    @property
    def exact_numbers(self) -> bool:
        # "data" writes the data again: its numbers must be read exactly. Whole envelopes
        # are written as they came (Envelope.raw): their numbers are never re-encoded.
        return self.config.format == "data"

    async def open(self) -> None:
        if not self.per_table:
            self._fd(self.config.path)  # fail at start, not at the first envelope

    def _fd(self, path: str) -> int:
        fd = self.files.get(path)
        if fd is not None:
            self.files.move_to_end(path)
            return fd
        parent = os.path.dirname(os.path.abspath(path))
        try:
            if not os.path.isdir(parent):
                os.makedirs(parent, exist_ok=True)
            existed = os.path.exists(path)
            fd = os.open(
                path, os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644
            )
        except OSError as exc:  # a directory, a file where a directory goes, no permission
            raise open_error(path, self.config.path, exc) from None
        if not existed:
            self.new_dirs.add(parent)  # the new directory entry must be synced too
        else:
            try:
                drop_torn_tail(fd, path)
            except OSError as exc:
                os.close(fd)
                raise write_error(path, exc) from None
        self.files[path] = fd
        if len(self.files) > MAX_OPEN_FILES:
            old_path, old_fd = self.files.popitem(last=False)
            if old_path in self.unsynced and self.config.fsync:
                try:
                    os.fsync(old_fd)
                except OSError as exc:
                    raise write_error(old_path, exc) from None
            self.unsynced.discard(old_path)
            os.close(old_fd)
        return fd

    async def write_raw(self, lines: bytes) -> None:
        path = self.config.path
        _write_all(self._fd(path), lines, path)
        self.unsynced.add(path)

    async def write(self, batch: list[Envelope]) -> None:
        if not self.per_table:
            path = self.config.path
            _write_all(self._fd(path), self._lines(batch), path)
            self.unsynced.add(path)
            return
        by_path: dict[str, list[Envelope]] = {}
        for envelope in batch:
            metadata = envelope.metadata if isinstance(envelope.metadata, dict) else {}
            by_path.setdefault(self._table_path(metadata.get(META_TABLE)), []).append(envelope)
        for path, envelopes in by_path.items():
            _write_all(self._fd(path), self._lines(envelopes), path)
            self.unsynced.add(path)

    def _table_path(self, table: object) -> str:
        # Memoised for string names (1, 1.0 and True are one dict key but three file
        # names): the regex substitution cost more than decoding the envelope.
        path = self.table_paths.get(table) if type(table) is str else None
        if path is None:
            path = self.config.path.replace(TABLE_PLACEHOLDER, table_file_name(table))
            if type(table) is str:
                if len(self.table_paths) >= MAX_TABLE_PATHS:
                    self.table_paths.clear()
                self.table_paths[table] = path
        return path

    def _lines(self, batch: list[Envelope]) -> bytes:
        """The batch's lines, one comprehension each: no per-envelope branching. Numbers
        are written as they were received (dump_json: docs/providers.md, "Numbers")."""
        dumps = dump_json
        if self.config.format == "data":
            lines = [dumps(e.data) for e in batch]
        else:
            lines = [e.raw if e.raw is not None else dumps(e.to_dict()) for e in batch]
        lines.append(b"")
        return b"\n".join(lines)

    async def flush(self) -> None:
        if not self.config.fsync:
            return
        for path in list(self.unsynced):
            fd = self.files.get(path)
            if fd is not None:
                try:
                    os.fsync(fd)
                except OSError as exc:
                    if exc.errno != errno.EINVAL:  # a device (/dev/null) cannot sync
                        raise write_error(path, exc) from None
        self.unsynced.clear()
        for directory in self.new_dirs:
            _fsync_dir(directory)
        self.new_dirs.clear()

    async def close(self) -> None:
        try:
            await self.flush()
        except DstreamError as exc:  # already reported by the write that failed first
            log.error(str(exc), hint=exc.hint)
        for fd in self.files.values():
            os.close(fd)
        log.info("file output closed", files=len(self.files))
        self.files.clear()


def drop_torn_tail(fd: int, path: str) -> None:
    """Cut a last line without its newline: the output was killed mid-write. That line
    was never acknowledged, so the input sends it again; appending after it would fuse
    the fragment with the next envelope into one unreadable line."""
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return
    end = size
    while end > 0:
        start = max(0, end - 65536)
        block = os.pread(fd, end - start, start)
        newline = block.rfind(b"\n")
        if newline >= 0:
            keep = start + newline + 1
            break
        end = start
    else:
        keep = 0
    os.ftruncate(fd, keep)
    os.fsync(fd)
    log.warning("dropped a torn last line left by an interrupted run", path=path, bytes=size - keep)


def _fsync_dir(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on a directory; the file itself is synced
    finally:
        os.close(fd)


def main() -> None:
    run_provider(File)


if __name__ == "__main__":
    main()

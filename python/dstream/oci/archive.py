"""Unpacking a provider's tar layer with a policy at least as strict as Python 3.12's
`tarfile` "data" filter (PEP 706), implemented here so 3.9-3.11 get the same one.

An archive is untrusted input. Members are read as a stream and written by this module
itself (never by `TarFile.extract`), each checked before it touches the disk:

- names are relative, with no `..` component, backslash or NUL;
- nothing is written through a link: every directory on a member's path must be a real
  directory inside the target (a symlink created by an earlier member does not count);
- symbolic links are relative and resolve inside the target, also after the whole
  archive is unpacked (a later link cannot make an earlier one leave);
- hard links name a regular file unpacked earlier from the same archive;
- only regular files, directories and links: no devices, FIFOs or sockets;
- no set-user-ID or set-group-ID bit (refused); sticky and group/other write bits are
  dropped; ownership is never restored;
- at most `Limits.entries` members and `Limits.max_bytes(compressed size)` bytes, counted
  on the decompressed stream and on the declared size of every file;
- a truncated or corrupt gzip/tar stream is an error, like any refusal.

Every refusal is an `ArchiveError` that names the artifact and the member. The caller
unpacks into a fresh temporary directory and renames it into place only when this
returns (see `pull._executable_from`). What unpacking leaves is checked again on every
use (`archive_tree` against `unpacked_tree`, oci/verify.py): the cache may be written by
others than dstream.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import os
import posixpath
import stat
import tarfile
import zlib
from pathlib import Path
from typing import IO, Callable, Optional, Union

from dstream.errors import ExitCode
from dstream.oci.errors import ArchiveError, OciError
from dstream.records import record

GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 1 << 20

# The caps, and the environment variables that change them (docs/security.md).
DEFAULT_RATIO = 100  # an executable compresses 2-5x; a zip bomb, about 1000x
DEFAULT_MAX_BYTES = 1 << 30  # the ceiling, whatever the compressed size
DEFAULT_MAX_ENTRIES = 10_000
FLOOR_BYTES = 16 << 20  # tiny archives may expand more than `ratio` (tar pads to 10 KiB)
RATIO_VARIABLE = "DSTREAM_ARCHIVE_MAX_RATIO"
BYTES_VARIABLE = "DSTREAM_ARCHIVE_MAX_BYTES"
ENTRIES_VARIABLE = "DSTREAM_ARCHIVE_MAX_ENTRIES"
LIMIT_VARIABLES = (RATIO_VARIABLE, BYTES_VARIABLE, ENTRIES_VARIABLE)

# Write errors that say the cache is full or not writable; any other one (a name too
# long, a path through a file, ...) comes from what the archive asks for.
_CACHE_ERRNOS = {
    errno.ENOSPC,
    getattr(errno, "EDQUOT", errno.ENOSPC),
    errno.EACCES,
    errno.EPERM,
    errno.EROFS,
    errno.EIO,
}

_CREATE = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_EXCL
    | getattr(os, "O_NOFOLLOW", 0)  # not on Windows, where O_EXCL is enough
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)

_POLICY_HINT = (
    "the artifact may be malicious: a provider archive may hold only regular files, "
    "directories and links that stay inside it; rebuild it with relative paths"
)


_NO_FILE_HINT = (
    "put the executable in the archive as a regular file (named plugin, provider or "
    "plugin.<os>_<arch>; a link to it will do), or push the executable itself "
    "(`dstream providers push FILE:OS/ARCH --ref REF`)"
)


class LimitError(OciError):
    """A cap's environment variable is not a positive whole number."""

    exit_code = ExitCode.USAGE


@record(frozen=True)
class Limits:
    ratio: int = DEFAULT_RATIO
    ceiling: int = DEFAULT_MAX_BYTES
    entries: int = DEFAULT_MAX_ENTRIES

    @classmethod
    def from_env(cls) -> Limits:
        return cls(
            ratio=_env_int(RATIO_VARIABLE, DEFAULT_RATIO),
            ceiling=_env_int(BYTES_VARIABLE, DEFAULT_MAX_BYTES),
            entries=_env_int(ENTRIES_VARIABLE, DEFAULT_MAX_ENTRIES),
        )

    def max_bytes(self, compressed: int) -> int:
        """What an archive of `compressed` bytes may expand to."""
        return min(self.ceiling, max(FLOOR_BYTES, compressed * self.ratio))


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) < 1:
        raise LimitError(
            f"{name}={text!r} is not a positive whole number",
            hint=f"set {name} to e.g. {default}, or unset it for that default",
        )
    return int(text)


def looks_like_archive(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(512)
    return head.startswith(GZIP_MAGIC) or head[257:262] == b"ustar"


def _show(name: str) -> str:
    """A member name as it may appear in a one-line message: quoted, escaped, bounded."""
    text = repr(name)
    return text if len(text) <= 160 else text[:150] + "...'"


class _Stream:
    """The decompressed archive, read through a cap: more than `limit` bytes, or a
    damaged gzip stream, raise `ArchiveError` from inside `tarfile`."""

    def __init__(self, raw: IO[bytes], limit: int, refuse: Callable[[str, str], ArchiveError]):
        self.source: Union[gzip.GzipFile, IO[bytes]] = (
            gzip.GzipFile(fileobj=raw, mode="rb") if _gzipped(raw) else raw
        )
        self.limit = limit
        self.read_bytes = 0
        self.refuse = refuse

    def read(self, size: int = -1) -> bytes:
        try:
            data = self.source.read(size if 0 <= size <= CHUNK else CHUNK)
        except (EOFError, zlib.error, OSError) as exc:  # gzip.BadGzipFile is an OSError
            raise _corrupt(self.refuse, exc) from None
        self.read_bytes += len(data)
        if self.read_bytes > self.limit:
            raise _too_big(self.refuse, self.limit)
        return data


def _gzipped(raw: IO[bytes]) -> bool:
    head = raw.read(2)
    raw.seek(0)
    return head == GZIP_MAGIC


def _corrupt(refuse: Callable[[str, str], ArchiveError], exc: BaseException) -> ArchiveError:
    why = " ".join(str(exc).split()) or type(exc).__name__  # one line, whatever exc says
    err = refuse(f"is truncated or corrupt ({why})", "")
    err.hint = (
        "the layer is damaged or not a tar / tar.gz: push it again, or push the executable itself"
    )
    return err


def _too_big(refuse: Callable[[str, str], ArchiveError], limit: int) -> ArchiveError:
    err = refuse(f"expands to more than {limit} bytes", "")
    err.hint = (
        f"the caps are {BYTES_VARIABLE} (ceiling, default {DEFAULT_MAX_BYTES}) and "
        f"{RATIO_VARIABLE} (times the compressed size, default {DEFAULT_RATIO}); raise them "
        "only for an artifact you trust"
    )
    return err


class _Unpacker:
    """Writes one member at a time under `dest`, by the policy of the module docstring."""

    def __init__(self, dest: Path, limits: Limits, budget: int, source: str) -> None:
        self.dest = os.path.realpath(dest)
        self.limits = limits
        self.budget = budget
        self.source = source
        self.entries = 0
        self.declared = 0
        self.files: set[str] = set()  # regular files written, by name: hard link targets

    def refuse(self, what: str, member: str, hint: str = _POLICY_HINT) -> ArchiveError:
        where = f"member {_show(member)} " if member else ""
        return ArchiveError(
            f"provider {self.source} refused: its archive {where}{what}; nothing was kept",
            hint=hint,
            reference=self.source,
            member=member or None,
        )

    def add(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        self.entries += 1
        if self.entries > self.limits.entries:
            err = self.refuse(f"has more than {self.limits.entries} entries", "")
            err.hint = f"the cap is {ENTRIES_VARIABLE} (default {DEFAULT_MAX_ENTRIES})"
            raise err
        parts = self._parts(member.name, member.name)
        if member.mode & (stat.S_ISUID | stat.S_ISGID):
            raise self.refuse(
                f"is set-user-ID or set-group-ID (mode {member.mode:04o})", member.name
            )
        try:
            self._write(tar, parts, member)
        except OSError as exc:
            if exc.errno in _CACHE_ERRNOS:
                raise  # the cache's fault, not the archive's: safe_unpack says so
            raise self.refuse(f"cannot be unpacked ({exc.strerror or exc})", member.name) from None

    def _write(self, tar: tarfile.TarFile, parts: list[str], member: tarfile.TarInfo) -> None:
        if member.isdir():
            self._directory(parts, member)
        elif member.isreg():
            self._file(tar, parts, member)
        elif member.issym():
            self._symlink(parts, member)
        elif member.islnk():
            self._hard_link(parts, member)
        else:
            raise self.refuse("is a device, FIFO or other special file", member.name)

    # -- names and paths ---------------------------------------------------------------
    def _parts(self, name: str, member: str, what: str = "") -> list[str]:
        """The components of a relative name; refuses absolute, `..`, `\\` and NUL."""
        if "\x00" in name or "\\" in name:
            raise self.refuse(f"{what}has a backslash or NUL in its name", member)
        if name.startswith("/"):
            raise self.refuse(f"{what}is an absolute path ({_show(name)})", member)
        parts = [p for p in name.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise self.refuse(f"{what}has a '..' component ({_show(name)})", member)
        return parts

    def _parent(self, parts: list[str], member: str) -> str:
        """The member's directory, created as needed; refuses a path through a link or
        a file (the check that stops `a/b -> ..` followed by `a/b/evil`)."""
        path = self.dest
        for i, part in enumerate(parts[:-1]):
            path = os.path.join(path, part)
            try:
                mode = os.lstat(path).st_mode
            except FileNotFoundError:
                os.mkdir(path, 0o755)
                continue
            if stat.S_ISLNK(mode):
                prefix = "/".join(parts[: i + 1])
                raise self.refuse(f"would be written through the link {_show(prefix)}", member)
            if not stat.S_ISDIR(mode):
                prefix = "/".join(parts[: i + 1])
                raise self.refuse(f"would be written under the file {_show(prefix)}", member)
        return path

    def _clear(self, path: str, parts: list[str], member: str) -> None:
        """Make room for a non-directory member: a later duplicate replaces a file or a
        link (as tar does; the old link is removed, never followed), not a directory."""
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            return
        if stat.S_ISDIR(mode):
            raise self.refuse("would replace a directory", member)
        os.unlink(path)
        self.files.discard("/".join(parts))

    def _inside(self, path: str) -> bool:
        real = os.path.realpath(path)
        return real == self.dest or real.startswith(self.dest + os.sep)

    # -- members -----------------------------------------------------------------------
    def _directory(self, parts: list[str], member: tarfile.TarInfo) -> None:
        if not parts:
            return  # "." or "./"
        path = os.path.join(self._parent(parts, member.name), parts[-1])
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            os.mkdir(path, 0o700)
        else:
            if not stat.S_ISDIR(mode):
                self._clear(path, parts, member.name)
                os.mkdir(path, 0o700)
        os.chmod(path, (member.mode & 0o755) | 0o700)  # a real directory: checked above

    def _file(self, tar: tarfile.TarFile, parts: list[str], member: tarfile.TarInfo) -> None:
        if not parts:
            raise self.refuse("is a file without a name", member.name)
        self.declared += member.size
        if self.declared > self.budget:
            raise _too_big(self.refuse, self.budget)
        path = os.path.join(self._parent(parts, member.name), parts[-1])
        self._clear(path, parts, member.name)
        source = tar.extractfile(member)
        # O_EXCL: the name was just cleared, so a link planted there is never followed.
        fd = os.open(path, _CREATE, 0o600)
        with os.fdopen(fd, "wb") as out:
            while source is not None:
                block = source.read(CHUNK)
                if not block:
                    break
                out.write(block)
        os.chmod(path, (member.mode & 0o755) | 0o600)  # exactly, whatever the umask
        self.files.add("/".join(parts))

    def _symlink(self, parts: list[str], member: tarfile.TarInfo) -> None:
        target = member.linkname
        if not parts:
            raise self.refuse("is a link without a name", member.name)
        if not target or "\x00" in target:
            raise self.refuse("is a link with an empty target", member.name)
        if target.startswith("/"):
            raise self.refuse(f"is a link to the absolute path {_show(target)}", member.name)
        lexical = posixpath.normpath(posixpath.join("/".join(parts[:-1]), target))
        parent = self._parent(parts, member.name)
        if (
            lexical == ".."
            or lexical.startswith("../")
            or not self._inside(os.path.join(parent, target))
        ):
            raise self.refuse(f"is a link to {_show(target)}, outside the archive", member.name)
        path = os.path.join(parent, parts[-1])
        self._clear(path, parts, member.name)
        os.symlink(target, path)

    def _hard_link(self, parts: list[str], member: tarfile.TarInfo) -> None:
        what = f"is a hard link to {_show(member.linkname)}, which "
        target = self._parts(member.linkname, member.name, what)
        key = "/".join(target)
        if not parts:
            raise self.refuse("is a hard link without a name", member.name)
        if key not in self.files:
            raise self.refuse(what + "is not a regular file earlier in the archive", member.name)
        source = os.path.join(self.dest, *target)
        path = os.path.join(self._parent(parts, member.name), parts[-1])
        if os.path.realpath(source) != os.path.normpath(source) or not os.path.isfile(source):
            raise self.refuse(what + "is not a regular file inside it", member.name)
        if os.path.normpath(source) == os.path.normpath(path):
            return  # a link to itself: the file is already there
        self._clear(path, parts, member.name)
        os.link(source, path, follow_symlinks=False)
        self.files.add("/".join(parts))

    # -- after the last member ---------------------------------------------------------
    def finish(self) -> list[str]:
        """Regular files, relative to `dest`; refuses a link that now resolves outside
        (a later member may have changed what an earlier link points through)."""
        files, links = [], []
        for dirpath, dirs, names in os.walk(self.dest):
            for name in dirs + names:
                full = os.path.join(dirpath, name)
                rel = os.path.relpath(full, self.dest)
                if os.path.islink(full):
                    if not self._inside(full):
                        raise self.refuse("is a link that resolves outside the archive", rel)
                    links.append(f"{_show(rel)} -> {_show(os.readlink(full))}")
                elif name in names:
                    files.append(rel)
        if not files:  # nothing to run, for any platform: refused as a whole, kept nowhere
            raise self.refuse(_no_file(sorted(links)), "", _NO_FILE_HINT)
        return sorted(files)


def _no_file(links: list[str]) -> str:
    if not links:
        return "holds no file (only directories, or nothing)"
    shown = ", ".join(links[:5]) + (", ..." if len(links) > 5 else "")
    return f"holds no file: its links resolve to no file ({shown})"


def safe_unpack(
    archive: Path, dest: Path, *, source: str, limits: Optional[Limits] = None
) -> list[str]:
    """Unpack `archive` into `dest` (an existing, empty directory) and return the
    regular files' names. `source` names the artifact in every error. On an error,
    `dest` may hold part of the archive (never anything outside it): remove it."""
    limits = limits or Limits.from_env()
    budget = limits.max_bytes(os.path.getsize(archive))
    unpacker = _Unpacker(dest, limits, budget, source)
    with open(archive, "rb") as raw:
        stream = _Stream(raw, budget, unpacker.refuse)
        try:
            with tarfile.open(fileobj=stream, mode="r|") as tar:  # type: ignore[call-overload]
                for member in tar:
                    unpacker.add(tar, member)
        except tarfile.TarError as exc:
            raise _corrupt(unpacker.refuse, exc) from None
        except OSError as exc:  # reading errors became ArchiveError in _Stream
            raise OciError(
                f"cannot unpack provider {source} into {dest}: {exc.strerror or exc}",
                hint="check free space and permissions of the provider cache (DSTREAM_CACHE_DIR)",
            ) from None
    return unpacker.finish()


def regular_files(root: Path) -> list[str]:
    """The regular files under `root` (links neither listed nor followed)."""
    top = os.fspath(root)
    return sorted(
        os.path.relpath(os.path.join(dirpath, name), top)
        for dirpath, _dirs, names in os.walk(top)
        for name in names
        if stat.S_ISREG(os.lstat(os.path.join(dirpath, name)).st_mode)
    )


# -- what unpacking leaves, checked on every use (oci/verify.py) ----------------------------

DIR = "dir"


def archive_tree(archive: Path, *, source: str, limits: Optional[Limits] = None) -> dict[str, str]:
    """What `safe_unpack` leaves of `archive` (one it accepted), read without writing
    anything: each path ("/"-separated, relative) -> DIR, "file sha256:<hex>" or "link
    <target>", as `unpacked_tree` reads a directory. As when unpacking, a later member
    replaces an earlier one of its name and a hard link holds its target's content.
    Read through the same caps; a damaged stream is an ArchiveError."""
    limits = limits or Limits.from_env()
    budget = limits.max_bytes(os.path.getsize(archive))

    def refuse(what: str, member: str) -> ArchiveError:
        where = f"member {_show(member)} " if member else ""
        return ArchiveError(
            f"the cached archive of provider {source} {where}{what}",
            hint="it is not run: `dstream providers pull REF --refresh` fetches it again",
        )

    tree: dict[str, str] = {}
    with open(archive, "rb") as raw:
        try:
            with tarfile.open(fileobj=_Stream(raw, budget, refuse), mode="r|") as tar:  # type: ignore[call-overload]
                for member in tar:
                    _model(tree, tar, member)
        except tarfile.TarError as exc:
            raise _corrupt(refuse, exc) from None
    return tree


def _model(tree: dict[str, str], tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
    parts = [p for p in member.name.split("/") if p not in ("", ".")]
    if not parts:
        return  # "." or "./"
    name = "/".join(parts)
    for depth in range(1, len(parts)):
        tree.setdefault("/".join(parts[:depth]), DIR)  # made by _Unpacker._parent
    if member.isdir():
        tree[name] = DIR
    elif member.isreg():
        tree[name] = "file " + _sha256_of(tar.extractfile(member))
    elif member.issym():
        tree[name] = "link " + member.linkname
    elif member.islnk():
        target = "/".join(p for p in member.linkname.split("/") if p not in ("", "."))
        tree[name] = tree.get(target, "missing")  # a link to itself: the file as it was
    else:
        tree[name] = "special"  # refused when unpacking: never on disk


def unpacked_tree(root: Path) -> dict[str, str]:
    """What is under `root` now, as `archive_tree` describes an archive; links are read,
    never followed, and anything but a file, a directory or a link is "special"."""
    top = os.fspath(root)
    tree: dict[str, str] = {}
    for dirpath, dirs, names in os.walk(top):
        for name in dirs + names:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, top).replace(os.sep, "/")
            mode = os.lstat(full).st_mode
            if stat.S_ISLNK(mode):
                tree[rel] = "link " + os.readlink(full)
            elif stat.S_ISDIR(mode):
                tree[rel] = DIR
            elif stat.S_ISREG(mode):
                fd = os.open(full, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
                with os.fdopen(fd, "rb") as handle:
                    tree[rel] = "file " + _sha256_of(handle)
            else:
                tree[rel] = "special"
    return tree


def _sha256_of(handle: Optional[IO[bytes]]) -> str:
    hasher = hashlib.sha256()
    for block in iter(lambda: handle.read(CHUNK) if handle else b"", b""):
        hasher.update(block)
    return "sha256:" + hasher.hexdigest()

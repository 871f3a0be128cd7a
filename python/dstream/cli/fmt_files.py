"""What `dstream fmt` reads and writes (cli/fmt.py formats): the .hcl files named, a
folder it cannot list said so (never passed over), and a rewrite that goes through a
symlink, keeps the file's mode, owner and group, and is atomic (`write`)."""

from __future__ import annotations

import contextlib
import os
import stat

from dstream.config.syntax import UnreadableSource, path_kind, unreadable
from dstream.errors import ConfigError, DstreamError, UsageError

FORMATTED = (".hcl", ".tfvars")  # what fmt rewrites when named: configurations, var files


def find_files(paths: list[str], recursive: bool) -> tuple[list[str], list[ConfigError]]:
    """The .hcl files to format, and the paths that could not be read: a folder fmt
    cannot list is an error, never passed over (a format gate would pass on files it
    never read). A path that does not exist is a usage error."""
    found: list[str] = []
    unread: list[ConfigError] = []
    for path in paths or ["."]:
        try:
            kind = path_kind(path)
        except UnreadableSource as exc:  # a folder on the way that may not be searched
            unread.append(exc)
            continue
        if kind == "missing":
            raise UsageError(f"no such file or directory: {path}", hint="name .hcl files or dirs")
        if kind == "file":
            if not path.endswith(FORMATTED):  # as `terraform fmt`: never another kind
                raise UsageError(
                    f"{path} is not an .hcl file: dstream fmt rewrites only "
                    + " and ".join(FORMATTED)
                    + " files",
                    hint="name the configuration's .hcl files (or var files), or a folder",
                )
            found.append(path)  # not a regular file, a loop: read_source says so
            continue

        def failed(exc: OSError, top: str = path) -> None:
            unread.append(unreadable(os.path.normpath(exc.filename or top), exc))

        for root, dirs, names in os.walk(path, onerror=failed):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if recursive else []
            found += [
                os.path.normpath(os.path.join(root, n)) for n in sorted(names) if n.endswith(".hcl")
            ]
    return found, unread


def write(path: str, text: str) -> None:
    """Replace the file at `path` by `text`, as `terraform fmt` users expect: a symlink
    is kept and its target written; the file keeps its mode and, where the user may
    give it, its owner and group. Atomic: a copy beside the target, then a rename. A
    file that is read-only, or that this user may not write, is refused (never made
    writable): DstreamError, and the file is left as it was."""
    target = os.path.realpath(path)
    shown = path if target == os.path.abspath(path) else f"{path} (a link to {target})"
    try:
        info = os.stat(target)
    except OSError as exc:  # gone or locked since it was read
        raise _cannot_write(shown, path, exc.strerror or str(exc)) from None
    mode = stat.S_IMODE(info.st_mode)
    if not mode & 0o222:  # vim's rule: root may write any file, but was told not to
        raise DstreamError(
            f"{shown} is read-only (mode {mode:04o}): left as it is",
            hint=f"make it writable (chmod u+w {path}) for `dstream fmt` to format it; "
            "`dstream fmt --check` only reads it",
            file=path,
        )
    # The rename below needs write permission on the folder only: it would replace a
    # file this user may not write.
    try:
        os.close(os.open(target, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC))
    except OSError as exc:
        raise _cannot_write(shown, path, exc.strerror or str(exc)) from None
    folder = os.path.dirname(target)
    try:
        tmp, fd = _create_beside(target, mode)
    except OSError as exc:
        reason = f"cannot create a file in {folder}: {exc.strerror or exc}"
        raise _cannot_write(shown, path, reason) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            _keep_owner(handle.fileno(), info)
            os.fchmod(handle.fileno(), mode)  # after chown, which may clear setgid
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):  # a full disk, a quota
            raise _cannot_write(shown, path, exc.strerror or str(exc)) from None
        raise
    _sync_folder(folder)


def _cannot_write(shown: str, path: str, reason: str) -> DstreamError:
    return DstreamError(
        f"cannot write {shown}: {reason}",
        hint="fmt replaces a file by a formatted copy made beside it: it needs write "
        "permission on the file and on its folder; run it as a user who has both",
        file=path,
    )


def _create_beside(target: str, mode: int) -> tuple[str, int]:
    """A new file in the target's folder. Its mode from the start is the target's
    owner bits alone (the umask may narrow them): the configuration may hold a secret,
    and the copy must never be readable by anyone the target is not readable by, also
    before it is given the target's owner, group and mode."""
    folder, name = os.path.split(target)
    tmp = os.path.join(folder, f".{name}.{os.urandom(6).hex()}.fmt.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    return tmp, os.open(tmp, flags, mode & 0o700)


def _keep_owner(fd: int, info: os.stat_result) -> None:
    """Give the copy the target's owner and group where this user may (root may; any
    user may give a file a group they are in); else it stays this user's."""
    try:
        os.fchown(fd, info.st_uid, info.st_gid)
    except PermissionError:
        with contextlib.suppress(PermissionError):
            os.fchown(fd, -1, info.st_gid)


def _sync_folder(folder: str) -> None:
    """Make the rename durable (best effort: not every file system can sync a folder)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

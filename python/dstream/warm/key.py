"""A warm start's key (dstream/warm): which arguments may start warm, where a snapshot
is kept, and the digests and identities of everything that decided a start, checked
against the snapshot before anything is started. The same imports as the package: the
interpreter's own modules and small C modules, and of dstream only dstream.cache (where
the cache is)."""

from __future__ import annotations

import os
import stat  # os's own import: no cost
import sys

from dstream.cache import cache_root

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, Optional

    Plan = dict[str, object]

FORMAT = 2
# The arguments of `dstream run` that change nothing a warm start does before the
# runtime takes over (the rest, such as --reset-state or --var, start it as always).
PLAIN_FLAGS = frozenset({"-q", "--quiet", "--fail-fast", "--json", "--all"})
VALUE_FLAGS = frozenset({"-c", "--config", "--state-dir", "--progress-interval"})
ENV_PREFIXES = ("DSTREAM_", "LC_")  # every variable with these prefixes is in the key


def eligible_arguments(args: list[str]) -> bool:
    """Whether `dstream ARGS` may be warm-started: `run`, task names, PLAIN_FLAGS and
    VALUE_FLAGS only (in the same order every time: the snapshot is found by them)."""
    if not args or args[0] != "run":
        return False
    expect_value = False
    for arg in args[1:]:
        if expect_value:
            expect_value = False
        elif arg in VALUE_FLAGS:
            expect_value = True
        elif arg.startswith("-") and arg not in PLAIN_FLAGS:
            return False
    return not expect_value


def _sha256() -> Callable[[bytes], Any]:
    """The C module alone: hashlib would load OpenSSL's (~11 M instructions). Found once:
    a failed import is not cached, and a start digests several times."""
    global _sha256_of
    if _sha256_of is None:
        try:
            from _sha2 import sha256  # CPython 3.12+
        except ImportError:
            try:
                from _sha256 import sha256
            except ImportError:  # a build without it
                from hashlib import sha256
        _sha256_of = sha256
    return _sha256_of


_sha256_of: Optional[Callable[[bytes], Any]] = None


def digest(data: bytes) -> str:
    """The digest a snapshot keeps of `data` (a file's content, by file_digest too)."""
    return str(_sha256()(data).hexdigest())


def snapshot_path(cwd: str, args: list[str]) -> str:
    """Where the snapshot of `dstream ARGS` run in `cwd` is kept (in dstream's cache)."""
    key = digest("\0".join([cwd, *args]).encode("utf-8", "surrogateescape"))
    return os.path.join(cache_root(), "warm", key[:32])


def env_digest(names: list[str], environ: dict[str, str]) -> str:
    """One digest of the named variables and of every one with ENV_PREFIXES: which are
    set and to what. One digest, not one per variable: a proxy URL with a password is
    kept only inside a hash of the whole environment dstream reads."""
    chosen = {name for name in environ if name.startswith(ENV_PREFIXES)} | set(names)
    parts = [f"{name}\0{environ.get(name, '')}\0{int(name in environ)}" for name in sorted(chosen)]
    return digest("\0".join(parts).encode("utf-8", "surrogateescape"))


def file_digest(path: str) -> Optional[str]:
    """The digest of a regular file's content; None for anything else (a FIFO put in a
    configuration's place must not be waited on: opened without blocking, and refused)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            return digest(handle.read())
        except OSError:
            return None


def stat_identity(path: str) -> Optional[list[int]]:
    """What tells an executable was replaced (its content is not hashed: it may be big)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def build_identity() -> list[object]:
    """dstream's own code: a new install or build changes how a run is decided."""
    here = os.path.dirname(os.path.abspath(__file__))  # dstream/warm
    from dstream import _core

    package = os.path.dirname(here)
    modules = sorted(name for name in os.listdir(here) if name.endswith(".py"))
    return [stat_identity(os.path.join(package, "__init__.py")),
            *(stat_identity(os.path.join(here, name)) for name in modules),
            stat_identity(_core.__file__), sys.version]  # fmt: skip


def hcl_listing(path: str) -> list[str]:
    """The configuration files of a `-c DIR`, as config/loader.py's glob of `*.hcl`
    finds them (a hidden file is not one)."""
    return sorted(n for n in os.listdir(path) if n.endswith(".hcl") and not n.startswith("."))


def fresh(plan: Plan, cwd: str, args: list[str]) -> bool:
    """Whether every input that decided `plan` is as it was when it was written."""
    if plan.get("format") != FORMAT or plan.get("cwd") != cwd or plan.get("args") != args:
        return False
    if plan.get("build") != build_identity():
        return False
    names = plan["env_names"]
    if env_digest(names, dict(os.environ)) != plan["env_digest"]:  # type: ignore[arg-type]
        return False
    for path, digest in plan["files"]:  # type: ignore[attr-defined]
        if file_digest(path) != digest:
            return False
    for path, listing in plan["dirs"]:  # type: ignore[attr-defined]
        try:
            if hcl_listing(path) != listing:
                return False
        except OSError:
            return False
    executables: list[tuple[str, list[int]]] = plan["executables"]  # type: ignore[assignment]
    return all(stat_identity(path) == identity for path, identity in executables)

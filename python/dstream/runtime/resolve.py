"""Where a provider's executable comes from: a local path, an OCI artifact, or a
container image. The result is what `process.start_provider` launches."""

from __future__ import annotations

import os
import sys

from dstream.config.model import ProviderSpec
from dstream.errors import ConfigError, nearest
from dstream.records import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

    from dstream.oci import PullResult


@record
class Launch:
    argv: list[str]
    image: Optional[str] = None  # set: run argv inside this container image instead


def _executable(path: str) -> bool:
    """Whether this process may execute `path`. execve(2) decides with the effective ids
    and capabilities, so ask with those: plain access(2) uses the real ones, and a
    process given CAP_DAC_READ_SEARCH to reach a root-owned venv would be told no."""
    if os.access in os.supports_effective_ids:
        return os.path.isfile(path) and os.access(path, os.X_OK, effective_ids=True)
    return os.path.isfile(path) and os.access(path, os.X_OK)


def own_dirs() -> tuple[str, ...]:
    """Where this installation's console scripts are (the second for a venv whose
    scripts directory sysconfig does not report)."""
    import sysconfig  # ~1 ms to load its build data: see is_own_dir

    return (sysconfig.get_path("scripts"), os.path.dirname(sys.executable))


def is_own_dir(directory: str) -> bool:
    """Whether `directory` is one of own_dirs(): the interpreter's own first, which is
    where a console script runs from, so a run naming its providers by path seldom
    loads sysconfig."""
    return directory == os.path.dirname(sys.executable) or directory in own_dirs()


def _own_script(name: str) -> Optional[str]:
    """A provider this installation ships (`dstream-counter`, ...): taken from its own
    scripts directory, so a venv works unactivated and no PATH shim (pyenv's costs a
    quarter of a second per start) stands in between."""
    if not name.startswith("dstream-"):
        return None
    for directory in own_dirs():
        path = os.path.join(directory, name)
        if _executable(path):
            return path
    return None


def _builtin_names() -> list[str]:
    """The providers this installation ships, for a "did you mean" hint."""
    import contextlib

    names: set[str] = set()
    for directory in own_dirs():
        with contextlib.suppress(OSError):
            names.update(n for n in os.listdir(directory) if n.startswith("dstream-"))
    return sorted(names)


def _on_path(name: str) -> list[str]:
    return [os.path.join(d or ".", name) for d in os.environ.get("PATH", "").split(os.pathsep)]


def _which(name: str) -> Optional[str]:
    """`shutil.which`, asking with the effective ids (see `_executable`)."""
    return _own_script(name) or next(filter(_executable, _on_path(name)), None)


# Each provider_ref's pull, once per block of a loaded configuration (keyed by its spec,
# dropped with it): a command asks for its executable several times (checking the
# config, asking the input what it manages, starting it), and with the registry away
# each asking would wait on it and warn of the cached copy again. A reloaded
# configuration, whose blocks are new, resolves its tags afresh.
_PULLED: dict[int, PullResult] = {}


def ref_site(spec: ProviderSpec, task: str) -> str:
    """Which provider_ref a message is about (`dstream lint` and a failed pull alike)."""
    return f"provider_ref of the {spec.role} of task {task!r}"


def pull_ref(
    spec: ProviderSpec, *, task: str, again: bool = False, refresh: bool = False
) -> PullResult:
    """`spec` (of `task`)'s provider_ref pulled (served from the cache as `oci.pull`
    serves it), once for this spec; `again`: pulled even so (`dstream init --pull`, whose
    job it is; `refresh`: past the cache), and what it got kept for the rest of the
    command. A failure says where the reference is written, keeping its type and hint."""
    import weakref

    from dstream.oci import OciError, pull

    assert spec.provider_ref
    key = id(spec)
    kept = _PULLED.get(key)
    if kept is not None and not again:
        return kept
    try:
        done = pull(spec.provider_ref, refresh=refresh)
    except OciError as exc:
        where = f"{spec.location}: " if spec.location else ""
        exc.reason = f"{where}{ref_site(spec, task)}: {exc.reason}"
        exc.args = (exc.reason,)
        raise
    if kept is None:
        weakref.finalize(spec, _PULLED.pop, key, None)
    _PULLED[key] = done
    return done


def resolve(spec: ProviderSpec, base_dir: str, *, task: str) -> Launch:
    if spec.provider_image:
        return Launch(argv=[], image=spec.provider_image)
    if spec.provider_ref:
        return Launch(argv=[pull_ref(spec, task=task).path])
    path = spec.provider_path
    if not path:
        raise ConfigError(
            f"{spec.role} has no provider",
            location=spec.location,
            hint="set one of provider_path, provider_ref or provider_image",
        )
    if os.sep in path or (os.altsep and os.altsep in path):
        full = path if os.path.isabs(path) else os.path.normpath(os.path.join(base_dir, path))
        if not os.path.exists(full):
            raise ConfigError(
                f"{spec.role} provider_path {path!r} does not exist (looked at {full})",
                location=spec.location,
                hint="paths are relative to the directory of the configuration file",
            )
        if os.path.isdir(full):
            raise ConfigError(
                f"{spec.role} provider_path {path!r} is a directory ({full}), not an executable",
                location=spec.location,
                hint=f"name the provider's executable file in it: "
                f'provider_path = "{path.rstrip(os.sep)}{os.sep}NAME"',
            )
        if not _executable(full):
            raise ConfigError(
                f"{spec.role} provider_path {full} is not executable",
                location=spec.location,
                hint=f"chmod +x {full}",
            )
        _check_interpreter(spec, path, full)
        return Launch(argv=[full])
    found = _which(path)
    if not found:
        present = next(filter(os.path.isfile, _on_path(path)), None)
        if present:
            raise ConfigError(
                f"{spec.role} provider {path!r} was found at {present}, "
                "but this user may not execute it",
                location=spec.location,
                hint=f"chmod +x {present}, or run dstream as a user who may",
            )
        guess = nearest(path, _builtin_names())
        raise ConfigError(
            f"{spec.role} provider {path!r} was not found on PATH",
            location=spec.location,
            hint=f"did you mean {guess!r}?"
            if guess
            else "install it, put it on PATH, or give a path like ./providers/" + path,
        )
    _check_interpreter(spec, path, found)
    return Launch(argv=[found])


def _check_interpreter(spec: ProviderSpec, path: str, full: str) -> None:
    """A script whose #! line names an interpreter that is not there: exec fails with
    ENOENT, as if the script itself were missing (setpriv then says "failed to execute
    SCRIPT: No such file or directory"); said before anything starts instead."""
    try:
        with open(full, "rb") as handle:
            first = handle.read(256).split(b"\n", 1)[0]
    except OSError:
        return  # exec will say why
    if not first.startswith(b"#!"):
        return
    words = first[2:].split()
    interpreter = os.fsdecode(words[0]) if words else ""
    if interpreter and not _executable(interpreter):
        state = "is not executable" if os.path.exists(interpreter) else "does not exist"
        raise ConfigError(
            f"{spec.role} provider {path!r} is a script whose #! line names the interpreter "
            f"{interpreter}, which {state}",
            location=spec.location,
            hint=f"install it, or change the first line of {full}",
        )

"""What a provider is, learnt without giving it a command: its handshake's features
(does it manage infrastructure?) and the JSON Schema of its config (docs/protocol.md,
section 2, "Describing a provider without a command").

Never sends a command line: the original .NET SDK takes any command it does not know
for `run`. In this order:

1. the describe cache (dstream's cache dir, describe/): the last handshake seen from
   this very executable, keyed by its identity (path, device, inode, size, mtime), and
   written whenever a provider handshakes in `run` or a lifecycle command too;
2. a provider this installation ships (`dstream-counter`, ...): its own class says it,
   imported in-process on a cache miss (the key then adds the package's files, so an
   edited provider is described again);
3. a probe: the executable started with DSTREAM_DESCRIBE=1 and stdin at /dev/null. A
   provider of this protocol writes its ready line and exits 0; a provider of the
   original DStream reads an empty line and exits 1 without a handshake: it manages no
   infrastructure and describes no config. Bounded by PROBE_TIMEOUT, then killed; that
   silence is kept in the cache too (`probe_unanswered`), so the executable is not
   probed again until it changes (its key), and `lint` says its config went unchecked.
4. `lifecycle = true|false` in the provider's block overrides the lifecycle feature,
   and saves a probe of a provider that must not be started even so (its schema is
   then known only from 1 or 2).

A container image (provider_image) is not probed: it is known from the cache or the
`lifecycle` attribute, else described as unknown.
"""

from __future__ import annotations

import contextlib
import functools
import os
import select
import signal
import subprocess
import time

from dstream.cache import cache_root, keep, read_owned
from dstream.config.model import ProviderSpec
from dstream.errors import ConfigError, DstreamError
from dstream.protocol.frames import ENV_DESCRIBE, FEATURE_LIFECYCLE
from dstream.protocol.messages import Handshake, parse_handshake
from dstream.protocol.values import decode_json, encode_json
from dstream.records import field, record, replace

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

    from dstream.config.model import Project, TaskSpec
    from dstream.protocol.values import JsonObject

PROBE_TIMEOUT = 10.0  # seconds a probed provider has to write its ready line
# Why a provider is not described, for plan's note and lint's warning alike.
NO_ANSWER = f"it did not answer a describe probe within {PROBE_TIMEOUT:g} s"
CACHE_FORMAT = "describe-1"
_SDK_MODULES = ("providers", "sdk")  # what built-in descriptions derive from

# Keys of executables whose probe timed out in this process: the cache remembers it, but
# may not be writable (a command checks configs, then asks providers: one silent
# executable costs one PROBE_TIMEOUT, not several).
_UNANSWERED: set[str] = set()

# Sources of a description.
BUILTIN = "builtin"
CACHE = "cache"
PROBE = "probe"
CONFIG = "config"
UNKNOWN = "unknown"


@record(frozen=True)
class Description:
    features: frozenset[str] = frozenset()
    protocol: Optional[int] = None
    config_schema: Optional[JsonObject] = None
    source: str = UNKNOWN
    note: str = ""  # how it was learnt, or why nothing was: for messages
    # Whether config_schema is known (None then means: it describes none). A command's
    # handshake carries no schema (only a probe's does), so one seen in a run is not.
    schema_known: bool = True
    role: Optional[str] = None  # what a probe's answer names (not cached: never needed)
    # Whether it answered a command with a ready line; None: not known. An original
    # output answers a bare one; a program such as `cat` answers nothing (legacy.py).
    answered: Optional[bool] = None
    # Its describe probe timed out: its schema, if any, is not known, and it is not
    # probed again until the executable changes (the cache key holds its stat).
    probe_unanswered: bool = False

    @property
    def lifecycle(self) -> bool:
        return FEATURE_LIFECYCLE in self.features

    @property
    def says_nothing(self) -> bool:
        """Only a probe's silence is known: nothing of what the provider is."""
        return self.probe_unanswered and self.answered is None

    def to_json(self) -> bytes:
        return encode_json(
            {
                "format": CACHE_FORMAT,
                "features": sorted(self.features),
                "protocol": self.protocol,
                "config_schema": self.config_schema,
                "schema_known": self.schema_known,
                "note": self.note,
                "answered": self.answered,
                "probe_unanswered": self.probe_unanswered,
            }
        )

    @classmethod
    def from_json(cls, data: bytes, source: str) -> Optional[Description]:
        try:
            obj = decode_json(data)
        except ValueError:
            return None
        if not isinstance(obj, dict) or obj.get("format") != CACHE_FORMAT:
            return None
        schema, features, protocol = (obj.get(k) for k in ("config_schema", "features", "protocol"))
        return cls(  # a damaged entry describes nothing rather than failing the command
            features=frozenset(str(f) for f in features)
            if isinstance(features, list)
            else frozenset(),
            protocol=protocol if isinstance(protocol, int) else None,
            config_schema=schema if isinstance(schema, dict) else None,
            source=source,
            note=str(obj.get("note") or ""),
            schema_known=bool(obj.get("schema_known", True)),
            answered=answered if isinstance(answered := obj.get("answered"), bool) else None,
            probe_unanswered=obj.get("probe_unanswered") is True,
        )

    @classmethod
    def of_handshake(cls, handshake: Handshake, source: str) -> Description:
        """What a handshake says; from a command's (not a probe's), the schema is known
        only when it carries one."""
        if handshake.status != "ready":
            note = "it gave no handshake: a provider of the original DStream"
            if handshake.status == "error":
                note = f"started without a command, it refused: {handshake.message}"
            return cls(source=source, note=note, schema_known=source == PROBE, answered=False)
        schema = handshake.config_schema
        known = source == PROBE or schema is not None
        return cls(
            handshake.features, handshake.protocol, schema, source, schema_known=known,
            role=handshake.role, answered=True,
        )  # fmt: skip


# -- the cache ---------------------------------------------------------------------------


def _cache_dir() -> str:
    return os.path.join(cache_root(), "describe")


@functools.lru_cache(maxsize=1)
def _package_fingerprint() -> str:
    """The identity of the files built-in providers are described from."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parts: list[str] = []
    for top in _SDK_MODULES:
        for directory, _, files in os.walk(os.path.join(root, top)):
            for name in sorted(files):
                if name.endswith(".py"):
                    st = os.stat(os.path.join(directory, name))
                    parts.append(f"{name}:{st.st_size}:{st.st_mtime_ns}")
    return ";".join(sorted(parts))


def _key(executable: str, builtin: bool) -> Optional[str]:
    try:
        st = os.stat(executable)
    except OSError:
        return None
    # No hashlib: a run must not load it (tests/runtime/test_startup.py); zlib's two
    # checksums only tell paths and package versions apart, the stat says the rest.
    import zlib

    path = os.path.realpath(executable).encode()
    key = f"{st.st_dev:x}-{st.st_ino:x}-{st.st_size:x}-{st.st_mtime_ns:x}-{zlib.crc32(path):08x}"
    if builtin:
        fingerprint = _package_fingerprint().encode()
        key += f"-{zlib.crc32(fingerprint):08x}{zlib.adler32(fingerprint):08x}"
    return key


def _key_of(executable: str) -> Optional[str]:
    """`executable`'s key, whether or not it is a provider this installation ships;
    None when it cannot be fingerprinted (it, or a package file, is gone)."""
    try:
        return _key(executable, _is_own_script(executable))
    except OSError:
        return None


def cache_entry(executable: str) -> Optional[str]:
    """The path of `executable`'s entry in the describe cache, there or not: a run
    checks its config by what that entry says (a warm start's key holds its digest)."""
    key = _key_of(executable)
    return None if key is None else _entry_path(key)


def _entry_path(key: str) -> str:
    return os.path.join(_cache_dir(), key + ".json")


def _load(key: str) -> Optional[Description]:
    """The cached description; None when absent, or when another user could have
    written it (it would say what a provider is, so which config it takes and whether
    lifecycle commands start it, unasked): probed again, and written over when it may be."""
    data = read_owned(_entry_path(key))
    return None if data is None else Description.from_json(data, CACHE)


def _store(key: str, description: Description, kept: Optional[Description]) -> None:
    """Best effort: a cache that cannot be written only costs a probe next time. `kept`:
    what `_load` found there, not written again when it would be written the same (the
    source and role are not kept: a record's own == would compare them)."""
    data = description.to_json()
    if kept is None or kept.to_json() != data:
        keep(_entry_path(key), data, private=False)


def known(executable: Optional[str]) -> Optional[Description]:
    """What the cache holds of `executable`, without starting it or importing it (an
    entry that holds only a probe's silence says nothing of it: None)."""
    key = _key_of(executable) if executable else None
    found = None if key is None else _load(key)
    return None if found is None or found.says_nothing else found


def remember(executable: Optional[str], handshake: Handshake) -> None:
    """Keep the handshake a provider just gave in a run or lifecycle command (an error
    status says nothing about what the provider is, and is not kept). A probe's silence
    kept before stays kept: a command's handshake does not tell the schema either."""
    key = _key_of(executable) if executable and handshake.status != "error" else None
    if key is None:
        return
    seen = Description.of_handshake(handshake, CACHE)
    kept = _load(key)
    if kept is not None and kept.probe_unanswered and not seen.schema_known:
        seen = replace(seen, probe_unanswered=True)
    if kept is not None and kept.schema_known and kept.features == seen.features:
        if kept.answered == seen.answered:
            return  # it says what the probe learnt, which also knows the schema
        seen = replace(kept, answered=seen.answered)
    _store(key, seen, kept)


# -- built-in providers ------------------------------------------------------------------


def _is_own_script(executable: str) -> bool:
    from dstream.runtime.resolve import is_own_dir

    name = os.path.basename(executable)
    return name.startswith("dstream-") and is_own_dir(os.path.dirname(executable))


def _builtin(executable: str) -> Optional[Description]:
    """A provider this installation ships: described by its class, imported here."""
    import importlib

    from dstream.extras import installed_distribution

    name = os.path.basename(executable)
    installed = installed_distribution()  # whatever its name: `dstream-io` on PyPI
    if installed is None:
        return None
    target = next(
        (
            p.value
            for p in installed.entry_points
            if p.group == "console_scripts" and p.name == name
        ),
        None,
    )
    if target is None:
        return None
    from dstream.sdk.provider import Provider

    try:
        module = importlib.import_module(target.split(":")[0])
    except ImportError:
        return None
    classes = [
        v
        for v in vars(module).values()
        if isinstance(v, type) and issubclass(v, Provider) and v.__module__ == module.__name__
    ]
    if len(classes) != 1:
        return None
    provider = classes[0]
    return Description(
        frozenset(provider.declared_features()), 1, provider.config_schema(), BUILTIN
    )


# -- the probe ---------------------------------------------------------------------------


def run_probe(
    executable: str, env: dict[str, str], cwd: str, timeout: float = PROBE_TIMEOUT
) -> Optional[Description]:
    """Start the executable with no command; None when it did not answer in time."""
    env = {**env, ENV_DESCRIBE: "1"}
    try:
        proc = subprocess.Popen(
            [executable],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    except OSError as exc:
        return Description(note=f"it could not be started: {exc.strerror or exc}")
    assert proc.stdout is not None
    try:
        line = _first_line(proc.stdout.fileno(), time.monotonic() + timeout)
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    if line is None:
        return None
    if not line:
        return Description(
            source=PROBE,
            note="started without a command, it gave no handshake: a provider of the "
            "original DStream",
        )
    try:
        handshake = parse_handshake(line, executable)
    except DstreamError:
        return Description(source=PROBE, note="its handshake is malformed")
    if handshake.is_legacy:
        return Description(source=PROBE, note="started without a command, it wrote data")
    return Description.of_handshake(handshake, PROBE)


def _first_line(fd: int, deadline: float) -> Optional[bytes]:
    """The first line on `fd` (b"" at EOF without one); None past the deadline."""
    buf = b""
    while b"\n" not in buf:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            return None
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return buf.strip() and buf
        buf += chunk
    return buf.split(b"\n", 1)[0].rstrip(b"\r")


# -- the entry point ---------------------------------------------------------------------


def executable_of(spec: ProviderSpec, base_dir: str, *, pull: bool = True) -> Optional[str]:
    """The local executable `spec` runs; None for an image, and with `pull=False` for a
    reference the cache does not hold. Raises ConfigError for a provider that cannot be
    found."""
    if spec.provider_image:
        return None
    if spec.provider_ref and not pull:
        from dstream.oci import cached_provider_ref

        cached = cached_provider_ref(spec.provider_ref)
        return str(cached) if cached else None
    from dstream.runtime.resolve import resolve

    return resolve(spec, base_dir).argv[0]


def describe(
    spec: ProviderSpec,
    base_dir: str,
    task: TaskSpec,
    *,
    probe: bool = True,
    pull: bool = True,
    schema: bool = False,
) -> Description:
    """What `spec`'s provider is (see the module's docstring); `schema`: its config
    schema is wanted too, so a cached handshake from a run does not do. Raises
    ConfigError when its executable cannot be found, as starting it would."""
    executable = executable_of(spec, base_dir, pull=pull)
    found = None
    if executable is not None:
        found = _learn(executable, spec, task, base_dir, probe=probe, schema=schema)
    if spec.lifecycle is not None:
        features = set(found.features) if found else set()
        if spec.lifecycle:
            features.add(FEATURE_LIFECYCLE)
        else:
            features.discard(FEATURE_LIFECYCLE)
        said = "true" if spec.lifecycle else "false"
        return replace(
            found or Description(),
            features=frozenset(features),
            source=CONFIG,
            note=f"lifecycle = {said} in its block",
            probe_unanswered=False,  # the block says what it is: it is not probed
        )
    if found is None:
        if spec.provider_image:
            note = "it is a container image dstream has not seen start"
        elif executable is None:
            note = "it is not pulled yet"
        else:
            note = "dstream has not seen it start"
        return Description(note=note)
    return found


def _learn(
    executable: str, spec: ProviderSpec, task: TaskSpec, base_dir: str, *, probe: bool, schema: bool
) -> Optional[Description]:
    """What the cache, the provider's own class or (`probe`) a probe say of
    `executable`; None when none of them may be asked. What is learnt is cached."""
    builtin = _is_own_script(executable)
    key = _key(executable, builtin)
    cached = _load(key) if key else None
    # One learnt from a run is asked again for its schema, unless it never answers.
    if cached is not None and (cached.schema_known or cached.probe_unanswered or not schema):
        return cached
    found = _builtin(executable) if builtin else None
    if found is None and probe and spec.lifecycle is None:
        found = _probed(executable, spec, task, base_dir, key, cached)
    if found is not None and key is not None:
        _store(key, found, cached)
    return found or cached


def _probed(
    executable: str,
    spec: ProviderSpec,
    task: TaskSpec,
    base_dir: str,
    key: Optional[str],
    cached: Optional[Description],
) -> Description:
    """The probe's answer, or its silence past PROBE_TIMEOUT, which is kept as an answer
    is (not probed again until the executable changes: it would cost as much every
    time); `cached`: what a run said of it, which stands."""
    found = None
    if key is None or key not in _UNANSWERED:
        from dstream.runtime.launch import provider_env

        found = run_probe(executable, provider_env(spec, task), base_dir)
    if found is None:
        if key is not None:
            _UNANSWERED.add(key)
        silent = Description(source=PROBE, note=NO_ANSWER, schema_known=False)
        return replace(cached or silent, probe_unanswered=True)
    if cached is not None and found.protocol is None:
        # Asked only for its schema, it did not answer the probe with one: what its run
        # said stands, and it describes no schema.
        return replace(cached, schema_known=True)
    return found


# -- checking dstream.hcl against what providers describe --------------------------------


@record
class ConfigCheck:
    """What checking the tasks' provider configs against their schemas found."""

    problems: list[ConfigError] = field(default_factory=list)  # what a schema refuses
    # Providers whose config went unchecked because their probe did not answer, though
    # they may describe a schema: lint warns of them; plan and run leave it to them.
    unchecked: list[ConfigError] = field(default_factory=list)


UNANSWERED_HINT = (
    "make it answer the describe probe: started with DSTREAM_DESCRIBE=1 and stdin at "
    "/dev/null, it writes its ready line with `config_schema` and exits 0, as the SDK "
    "does (docs/protocol.md, section 2); or give its block `lifecycle = true` (it "
    "implements init/plan/status/destroy) or `lifecycle = false`: it is then not probed, "
    "and its config is left to it. It is probed again once its executable changes "
    "(`touch` it)"
)


def check_configs(
    project: Project, names: list[str], *, probe: bool = True, pull: bool = True
) -> ConfigCheck:
    """Every config key of the tasks' providers that their own schema refuses, located
    in dstream.hcl. A provider that describes no schema is not checked here (it still
    checks its config itself at start); one that cannot be found is left to `pull=False`
    callers' own report (starting it fails with that error)."""
    from dstream.config.provider_config import check_config

    check = ConfigCheck()
    for name in names:
        try:
            task = project.task(name)
        except DstreamError:  # a task broken by its template: using it says why
            continue
        for spec in (task.input, task.output):
            try:
                found = describe(spec, project.base_dir, task, probe=probe, pull=pull, schema=True)
            except ConfigError as exc:
                if pull:
                    check.problems.append(exc)
                continue
            except DstreamError:  # a reference that cannot be pulled: start says why
                continue
            if found.config_schema is None:
                if found.probe_unanswered:
                    check.unchecked.append(_unchecked(spec))
                continue
            check.problems += check_config(
                spec.config,
                found.config_schema,
                provider=f"{spec.role} {spec.source!r}",
                locations=spec.config_locations,
                fallback=spec.location,
            )
    return check


def _unchecked(spec: ProviderSpec) -> ConfigError:
    what = f"{spec.role} {spec.source!r}: its config was not checked: {NO_ANSWER}"
    return ConfigError(what, location=spec.location, hint=UNANSWERED_HINT)


def refuse_bad_configs(project: Project, names: list[str], *, probe: bool = True) -> None:
    """Before anything starts: raise the first config problem (exit 2), saying how many
    more there are. `probe=False` (`run`): only what is known without starting anything
    (built-in providers, and those described before), as a probe of a script that does
    not read its command line would run it once more."""
    problems = check_configs(project, names, probe=probe).problems
    if not problems:
        return
    first = problems[0]
    if len(problems) > 1:
        more = f"{len(problems) - 1} more config problem(s): `dstream lint` lists them all"
        first.hint = f"{first.hint}; {more}" if first.hint else more
    raise first

"""What dstream knows of a provider without giving it a command (a `Description`), and
the describe cache that keeps it (dstream's cache dir, describe/): the last handshake
seen from this very executable, keyed by its identity (path, device, inode, size,
mtime; for a provider this installation ships, its package's files too), or from this
very container image, keyed by its ID (`image_key`), written
whenever a provider handshakes in `run` or a lifecycle command, or answers a probe
(runtime/describe.py, which decides what to ask and when).

This is what the start path needs of it (a run remembers each handshake; a warm start
keys on the entry): no subprocess, no probe.
"""

from __future__ import annotations

import functools
import os

from dstream.cache import cache_root, keep, read_owned
from dstream.protocol.frames import FEATURE_LIFECYCLE, ROLES
from dstream.protocol.values import decode_json, encode_json
from dstream.records import record, replace

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

    from dstream.protocol.messages import Handshake
    from dstream.protocol.values import JsonObject

CACHE_FORMAT = "describe-1"
_SDK_MODULES = ("providers", "sdk")  # what built-in descriptions derive from

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
    # "input" or "output" when it names its role (a probe's answer, a built-in's class):
    # lint and plan report a provider in the other role's block (describe.py).
    role: Optional[str] = None
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
                "role": self.role,
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
            role=role if (role := obj.get("role")) in ROLES else None,
        )

    @classmethod
    def of_handshake(cls, handshake: Handshake, source: str) -> Description:
        """What a handshake says; from a command's (not a probe's), the schema is known
        only when it carries one."""
        if handshake.status == "error":  # only a probe's is kept (remember)
            # A refusal is a status line, but says nothing of whether a command gets a
            # ready line: not "answered: false", which would make its later runs treat it
            # as an output that writes no handshake (legacy.py).
            note = f"started without a command, it refused: {handshake.message}"
            return cls(source=source, note=note, schema_known=source == PROBE)
        if handshake.status != "ready":
            note = "it gave no handshake: a provider of the original DStream"
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


def cache_key(executable: str, builtin: bool) -> Optional[str]:
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
        return cache_key(executable, is_own_script(executable))
    except OSError:
        return None


def cache_entry(executable: str) -> Optional[str]:
    """The path of `executable`'s entry in the describe cache, there or not: a run
    checks its config by what that entry says (a warm start's key holds its digest)."""
    key = _key_of(executable)
    return None if key is None else _entry_path(key)


def _entry_path(key: str) -> str:
    return os.path.join(_cache_dir(), key + ".json")


def load(key: str) -> Optional[Description]:
    """The cached description; None when absent, or when another user could have
    written it (it would say what a provider is, so which config it takes and whether
    lifecycle commands start it, unasked): probed again, and written over when it may be."""
    data = read_owned(_entry_path(key))
    return None if data is None else Description.from_json(data, CACHE)


def store(key: str, description: Description, kept: Optional[Description]) -> None:
    """Best effort: a cache that cannot be written only costs a probe next time. `kept`:
    what `load` found there, not written again when it would be written the same (the
    source is not kept: a record's own == would compare it)."""
    data = description.to_json()
    if kept is None or kept.to_json() != data:
        keep(_entry_path(key), data, private=False)


def known(executable: Optional[str]) -> Optional[Description]:
    """What the cache holds of `executable`, without starting it or importing it (an
    entry that holds only a probe's silence says nothing of it: None)."""
    key = _key_of(executable) if executable else None
    found = None if key is None else load(key)
    return None if found is None or found.says_nothing else found


def image_key(image_id: str) -> Optional[str]:
    """The key of a container image (provider_image): its ID, the digest the engine
    resolved its tag to ("sha256:" and 64 hex digits), never the tag, which may move to
    another image; None for anything else (no key, nothing kept)."""
    algorithm, _, digest = image_id.partition(":")
    if algorithm != "sha256" or len(digest) != 64 or digest.strip("0123456789abcdef"):
        return None
    return f"image-{algorithm}-{digest}"


def remember(
    executable: Optional[str], handshake: Handshake, *, image_id: Optional[str] = None
) -> None:
    """Keep the handshake a provider just gave in a run or lifecycle command (an error
    status says nothing about what the provider is, and is not kept); a container's
    (no `executable`) by its `image_id`. A probe's silence kept before stays kept: a
    command's handshake does not tell the schema either."""
    key = None
    if handshake.status != "error":
        if executable:
            key = _key_of(executable)
        elif image_id:
            key = image_key(image_id)
    if key is None:
        return
    seen = Description.of_handshake(handshake, CACHE)
    kept = load(key)
    if kept is not None and seen.role is None:  # a command's ready line need not name it
        seen = replace(seen, role=kept.role)
    if kept is not None and kept.probe_unanswered and not seen.schema_known:
        seen = replace(seen, probe_unanswered=True)
    if kept is not None and kept.schema_known and kept.features == seen.features:
        if kept.answered == seen.answered:
            return  # it says what the probe learnt, which also knows the schema
        seen = replace(kept, answered=seen.answered)
    store(key, seen, kept)


def is_own_script(executable: str) -> bool:
    """Whether `executable` is a provider this installation ships (`dstream-counter`)."""
    from dstream.runtime.resolve import is_own_dir

    name = os.path.basename(executable)
    return name.startswith("dstream-") and is_own_dir(os.path.dirname(executable))

"""The environment as a configuration's evaluation sees it, noting in a Reads
(config/model.py) every variable it looks up: the one place the environment is read, so
a cached result can tell when it is stale. Files and clock functions are noted where
they are read (config/functions.py, config/sprig.py, config/variables.py, loader.py).
"""

from __future__ import annotations

from dstream.config.model import Reads

TYPE_CHECKING = False
if TYPE_CHECKING:
    from _collections_abc import dict_items, dict_keys, dict_values
    from collections.abc import Iterator, Mapping
    from typing import Optional

# A scan of the whole environment (iterating it) is noted as this prefix: every name.
EVERY_NAME = ""


class RecordingEnviron(dict[str, str]):
    """A copy of the environment that notes each lookup in `reads`: a name with the
    value seen (None when unset), a prefix scan with every name it found."""

    def __init__(self, environ: Mapping[str, str], reads: Optional[Reads] = None) -> None:
        super().__init__(environ)
        self.reads = Reads() if reads is None else reads

    def _seen(self, name: str) -> Optional[str]:
        value = super().get(name)
        self.reads.env[name] = value
        return value

    def __getitem__(self, name: str) -> str:
        value = self._seen(name)
        if value is None:
            raise KeyError(name)
        return value

    def get(self, name: str, default: Optional[str] = None) -> Optional[str]:  # type: ignore[override]
        value = self._seen(name)
        return default if value is None else value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._seen(name) is not None

    def holds_unnoted(self, name: str) -> bool:
        """Whether `name` is set, not noted in `reads`: for an error's hint only, which
        no cache keeps (a read that decides a value is always noted)."""
        return dict.__contains__(self, name)

    def with_prefix(self, prefix: str) -> dict[str, str]:
        """Every variable whose name starts with `prefix` (DSTREAM_VAR_), all noted."""
        self.reads.add_prefix(prefix)
        found = {name: value for name, value in super().items() if name.startswith(prefix)}
        self.reads.env.update(found)
        return found

    # Iterating reads every name: noted as a scan of them all, so nothing goes unseen.
    def __iter__(self) -> Iterator[str]:
        return iter(self.with_prefix(EVERY_NAME))

    def keys(self) -> dict_keys[str, str]:
        return self.with_prefix(EVERY_NAME).keys()

    def values(self) -> dict_values[str, str]:
        return self.with_prefix(EVERY_NAME).values()

    def items(self) -> dict_items[str, str]:
        return self.with_prefix(EVERY_NAME).items()

    def copy(self) -> dict[str, str]:
        return self.with_prefix(EVERY_NAME)


def recording(environ: Mapping[str, str]) -> RecordingEnviron:
    """`environ` noting its lookups: itself if it already does, else a recording copy."""
    return environ if isinstance(environ, RecordingEnviron) else RecordingEnviron(environ)

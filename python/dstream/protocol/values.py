"""The JSON value, the one type of everything that crosses the wire as JSON (a
provider's config, a checkpoint, a lifecycle result) and of every value a dstream.hcl
evaluates to: config and protocol both name it from here, the lowest layer they share.
"""

from __future__ import annotations

from typing import Union

# A recursive alias: mypy follows it; at run time it is only a Union of generics.
JsonValue = Union[None, bool, int, float, str, list["JsonValue"], dict[str, "JsonValue"]]
JsonObject = dict[str, JsonValue]

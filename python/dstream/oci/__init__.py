"""OCI distribution of providers: `provider_ref` artifacts pulled with a native client
for the distribution API, verified by digest and cached by content.

The runtime calls `resolve_provider_ref`; `dstream init --pull` calls
`pull_task_providers`; `dstream providers` drives the rest.
"""

from __future__ import annotations

from typing import Any

from dstream.oci.pull import PullResult, inspect, pull, resolve_provider_ref
from dstream.oci.reference import Reference, ReferenceError, parse_reference

__all__ = [
    "PullResult",
    "Reference",
    "ReferenceError",
    "inspect",
    "parse_reference",
    "pull",
    "pull_task_providers",
    "resolve_provider_ref",
]


def pull_task_providers(task: Any, refresh: bool = False) -> list[dict[str, Any]]:
    """Pull every provider of a task ahead of a run (`dstream init --pull`): OCI
    artifacts into the cache, container images into the engine. Local paths need
    nothing. One dict per provider pulled."""
    results: list[dict[str, Any]] = []
    for spec in (task.input, task.output):
        if spec.provider_ref:
            result = pull(spec.provider_ref, refresh=refresh)
            results.append({"role": spec.role, "kind": "provider_ref", **result.to_dict()})
        elif spec.provider_image:
            from dstream.runtime.container import ensure_image

            info = ensure_image(spec.provider_image, pull="always" if refresh else "missing")
            results.append({"role": spec.role, "kind": "provider_image", **info})
    return results

"""Pulling a task's providers ahead of a run (`dstream init --pull`).

It lives in the runtime, which knows both kinds of pulled provider (OCI artifacts via
`dstream.oci`, container images via `runtime.container`); the oci package imports
nothing from the runtime (it was here as `oci.pull_task_providers`, and made the two
packages import each other)."""

from __future__ import annotations

from dstream.config.model import TaskSpec


def pull_task_providers(task: TaskSpec, refresh: bool = False) -> list[dict[str, object]]:
    """Pull every provider of a task ahead of a run: OCI artifacts into the cache,
    container images into the engine. Local paths need nothing. One dict per provider
    pulled (the JSON documents of `dstream providers pull` / the engine's image info)."""
    results: list[dict[str, object]] = []
    for spec in (task.input, task.output):
        if spec.provider_ref:
            from dstream.runtime.resolve import pull_ref

            # kept: the lifecycle command that follows does not resolve it again
            result = pull_ref(spec, task=task.name, again=True, refresh=refresh)
            results.append({"role": spec.role, "kind": "provider_ref", **result.to_dict()})
        elif spec.provider_image:
            from dstream.runtime.container import ensure_image

            info = ensure_image(spec.provider_image, pull="always" if refresh else "missing")
            results.append({"role": spec.role, "kind": "provider_image", **info})
    return results

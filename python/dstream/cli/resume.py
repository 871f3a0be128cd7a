"""Refuse to resume silently from a checkpoint that another input configuration wrote.

A checkpoint is a position in *one* source: after the input's config changed (another
table, another database), resuming from it may skip or repeat data without a word. So
the store keeps a digest of the input configuration next to the checkpoint, and `run`
compares it first: a change stops the run with exit 2 unless the user says which way
to go, `--reset-state` (start over) or `--resume-changed` (resume anyway)."""

from __future__ import annotations

from dstream.cli.view import View
from dstream.config.model import Project, ProviderSpec, definition
from dstream.errors import UsageError
from dstream.protocol.values import encode_json


def input_digest(spec: ProviderSpec) -> str:
    """What the input is and how it is configured, without where it was written."""
    # The same bytes as orjson's (stored digests stay valid), big integers exact.
    canonical = encode_json(definition(spec), sort_keys=True, default=str)
    from dstream.state import digest

    return "blake2b:" + digest(canonical)


def check_inputs(
    project: Project,
    names: list[str],
    *,
    resume_changed: bool,
    view: View,
    why: str = "--resume-changed",
) -> None:
    """Refuse (UsageError) when a stored checkpoint came from another input configuration,
    unless `resume_changed` (`why` says who decided so); then remember the current
    configuration for the next run."""
    from dstream.state import open_store

    with open_store(project.state, project.base_dir) as store:
        for name in names:
            current = input_digest(project.task(name).input)
            stored = store.input_hash(name)
            if stored == current:
                continue
            record = store.get(name)
            if record is not None and stored is not None:
                if not resume_changed:
                    raise UsageError(
                        f"task {name!r}: the input's configuration changed since its "
                        "checkpoint was stored; resuming from it could skip or repeat data",
                        hint=f"`dstream run {name} --reset-state` starts over; "
                        f"`dstream run {name} --resume-changed` resumes from the checkpoint "
                        "anyway",
                    )
                view.note(
                    f"task {name}: the input's configuration changed since its checkpoint "
                    f"was stored; resuming from it anyway ({why})"
                )
            store.set_input_hash(name, current)

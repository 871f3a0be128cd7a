"""Refuse to resume silently from a checkpoint that another input configuration wrote.

A checkpoint is a position in *one* source: after the input's config changed (another
table, another database), resuming from it may skip or repeat data without a word. So
the store keeps a digest of the input configuration next to the checkpoint, and `run`
compares it first: a change stops the run with exit 2 unless the user says which way
to go, `--reset-state` (start over) or `--resume-changed` (resume anyway). It is compared
before the run takes its tasks (`check_inputs`, to refuse at once) and again, then
written, once the run holds them (`keep_inputs`): a run refused because another run
holds the task, or waiting for it on standby, changes nothing of that run's. An agent
compares and writes it each time it takes a task (`keep_inputs`, runtime/agent.py): a
change fails that task, with what an agent's user does about it (`agent=True`).

The digest leaves the secrets out (config/unsecret.py says why): a new password is no
new source, another database is. A digest stored before that (over the secrets) is
recognised as the same configuration once, and replaced."""

from __future__ import annotations

from collections.abc import Iterable

from dstream.config.model import Project, ProviderSpec, definition
from dstream.config.unsecret import without_secrets
from dstream.errors import UsageError
from dstream.protocol.values import encode_json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional, Protocol

    from dstream.state.base import StateStore

    class Say(Protocol):
        """What says a note (View.note, or a note written above a live display)."""

        def __call__(self, text: str, *, task: Optional[str] = None) -> None: ...


def input_digest(spec: ProviderSpec, sensitive: Iterable[str]) -> str:
    """What the input is and how it is configured, without where it was written and
    without its secrets (`sensitive`: the project's sensitive values)."""
    return _digest(without_secrets(definition(spec), sensitive))


def digest_with_secrets(spec: ProviderSpec) -> str:
    """The digest dstream stored before secrets were left out of it: only to recognise
    such a stored digest, never to store."""
    return _digest(definition(spec))


def _digest(value: object) -> str:
    # The same bytes as orjson's (stored digests stay valid), big integers exact.
    canonical = encode_json(value, sort_keys=True, default=str)
    from dstream.state import digest

    return "blake2b:" + digest(canonical)


def check_inputs(project: Project, names: list[str]) -> None:
    """Refuse (UsageError) when a stored checkpoint came from another input configuration:
    early, before the run takes its tasks (--resume-changed skips it). Nothing is written
    (keep_inputs does that, once the run holds the task): a run refused because another
    run holds the task, or waiting for it on standby, must not change the digest of the
    input that run's checkpoints come from."""
    from dstream.state import open_store

    with open_store(project.state, project.base_dir) as store:
        for name in names:
            _changed(store, project, name, None)


def keep_inputs(
    store: StateStore,
    project: Project,
    names: list[str],
    *,
    accept: Optional[str],
    say: Say,
    agent: bool = False,
) -> None:
    """Once the run holds `names` on `store`: compare again (a standby may find the
    checkpoints of another input, written while it waited), refusing as check_inputs
    does unless `accept` says who decided to resume anyway (said, with `say`); then
    remember the current configuration for the next run. `agent`: an agent took the
    task, and the refusal's hint says what an agent's user does."""
    for name in names:
        change = _changed(store, project, name, accept, agent=agent)
        if change is None:
            continue
        current, resumed = change
        if resumed:
            say(
                "the input's configuration changed since its checkpoint was stored; "
                f"resuming from it anyway ({accept})",
                task=name,
            )
        store.set_input_hash(name, current)


def _changed(
    store: StateStore, project: Project, name: str, accept: Optional[str], *, agent: bool = False
) -> Optional[tuple[str, bool]]:
    """None when the stored digest is the input's; else its digest, and whether the run
    resumes from a checkpoint another input configuration wrote, which is refused
    (UsageError, its hint `agent`'s or run's) unless `accept`."""
    spec = project.task(name).input
    current = input_digest(spec, project.sensitive_values)
    stored = store.input_hash(name)
    if stored == current:
        return None
    # A digest stored over the secrets, before they were left out, is the same input.
    changed = stored is not None and stored != digest_with_secrets(spec)
    resumed = changed and store.get(name) is not None
    if resumed and accept is None:
        where = f"the input is defined at {spec.location}; " if spec.location else ""
        raise UsageError(
            f"task {name!r}: the input's configuration changed since its checkpoint was "
            f"stored; resuming from it could skip or repeat data ({where}a digest of its "
            "configuration is kept beside the checkpoint, not its text, so what changed "
            "cannot be shown)",
            hint=_what_to_do(name, agent=agent),
        )
    return current, resumed


# When resuming from a changed input is right, whichever command resumes.
_ANYWAY = (
    "(as after an upgrade of dstream that changed what a provider is given: the "
    "CHANGELOG says when, e.g. 1.0 sent as 1)"
)


def _what_to_do(name: str, *, agent: bool) -> str:
    """The two ways on from a changed input: start over, or resume anyway. An agent's
    user has no `run` flags: the state command forgets the checkpoint (the task's lease
    is free while it waits out its cool-down), and one agent started with
    --resume-changed accepts the change and remembers it for all."""
    if agent:
        return (
            f"`dstream state reset {name}` forgets the checkpoint: the next agent to take "
            f"the task starts it over; or start one agent with `dstream agent "
            f"--resume-changed {name}` to resume from the checkpoint anyway {_ANYWAY}: it "
            "remembers the new input, for every agent"
        )
    return (
        f"`dstream run {name} --reset-state` starts over; `dstream run {name} "
        f"--resume-changed` resumes from the checkpoint anyway {_ANYWAY}"
    )

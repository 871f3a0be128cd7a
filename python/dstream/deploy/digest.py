"""What the pods of one pod template evaluate, as a digest (its `dstream.dev/config-hash`):
a pod reads its configuration once, at start, so `kubectl apply` must see a changed
template to replace the pods whose configuration changed, and only those. A task's pods
evaluate its task and the state block; the agents every task and the state block. Not
the text of the files: another task's edit, or a comment, changes nothing they do.

The tasks' digests are those leases and agents keep (`definition_hash`: secrets replaced
by a marker, so no hash can be tested against a guessed secret, docs/security.md), and
the state block is hashed with its secrets replaced alike."""

from __future__ import annotations

import hashlib

from dstream.config.model import StateSpec
from dstream.config.unsecret import without_secrets
from dstream.protocol.values import encode_json
from dstream.records import asdict, fields
from dstream.runtime.taking import definition_hash

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from dstream.config.model import Project

# Where the state block's values were written: a line moved by an edit elsewhere is no
# change of what the pods do.
_STATE_LOCATIONS = frozenset(f.name for f in fields(StateSpec) if f.name.endswith("location"))


def pods_hash(project: Project, tasks: Sequence[str]) -> str:
    """The digest of what pods running `tasks` evaluate."""
    sensitive = project.sensitive_values
    state = without_secrets(asdict(project.state, skip=_STATE_LOCATIONS), sensitive)
    document = {
        "state": state,
        "tasks": {name: definition_hash(project.tasks[name], sensitive) for name in sorted(tasks)},
    }
    return hashlib.sha256(encode_json(document, sort_keys=True)).hexdigest()[:16]

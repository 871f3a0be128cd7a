"""Terraform's flags that dstream has no setting for, and what dstream does instead: the
one table (docs/cli.md, "Terraform's spellings", lists it). The flags dstream shares
with Terraform take its single dash where they are defined (flags.terraform_spelling);
these are refused with what to do, as a Terraform user types them: argparse would read
`-lock=false` as `-l ock=false` ("unknown log level") and `-compact-warnings` as
`-c ompact-warnings`, a message about a flag nobody typed.

No flag here is a dstream flag, in any command (tests/cli/test_terraform_flags.py), so
a word is looked up without knowing which command reads it."""

from __future__ import annotations

from dstream.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import Optional

_WHERE = "`--state-dir DIR` or the configuration's `state` block say where the state is"
_STATE = f"dstream has no such flag: {_WHERE}"

# Terraform's spelling -> what dstream does instead.
TERRAFORM_ONLY: dict[str, str] = {
    "-lock": "dstream has no lock switch: `run` and `destroy` always hold their tasks' "
    "locks (docs/cli.md)",
    "-lock-timeout": "dstream does not wait for a lock: a task another run holds is "
    "refused at once; `run --standby` waits for it and takes over",
    "-input": "dstream asks for nothing but `destroy`'s confirmation (`--auto-approve` "
    "skips it); a variable without a value is an error saying how to set it",
    "-refresh": "dstream keeps no copy of the infrastructure to refresh: `plan` and "
    "`status` ask the providers every time",
    "-refresh-only": "dstream keeps no copy of the infrastructure to refresh: `status` "
    "asks the providers what exists",
    "-parallelism": "dstream has no parallelism switch: `run` runs the tasks it is given "
    'side by side (docs/operations.md, "Several tasks")',
    "-no-color": "dstream has no colour switch: set NO_COLOR=1 (colour is off too when "
    "stdout is no terminal)",
    "-compact-warnings": "dstream's warnings are log lines: `-l error` hides them",
    "-target": "dstream has no -target: name the tasks instead (`dstream plan orders`)",
    "-replace": "dstream has no -replace: `destroy` the task's infrastructure, then `init` it",
    "-out": "dstream saves no plan: `plan` shows what `init` would do, and `init` does it",
    "-state": _STATE,
    "-state-out": _STATE,
    "-backup": f"dstream writes no state backup; {_WHERE}",
    "-backend-config": _STATE,
    "-reconfigure": _STATE,
    "-migrate-state": _STATE,
    "-upgrade": "`dstream init --pull --refresh` pulls the providers, resolving their tags again",
    "-chdir": "dstream has no -chdir: `-c DIR` reads the configuration in DIR",
    "-write": "`dstream fmt --check` writes nothing (`--diff` shows the changes)",
    "-help": "dstream spells it `--help` (or `-h`)",
    "-version": "dstream spells it `--version` (or `dstream version`)",
}

# Flags whose value may be a secret (`-backend-config=password=...`): shown masked.
_SECRET_VALUES = frozenset({"-backend-config"})


def terraform_only(words: Iterable[str], *, hint: str) -> Optional[UsageError]:
    """The usage error of the first of `words` that is one of Terraform's flags dstream
    does not have, in its single-dash spelling or, as Terraform takes it too, its double
    one (given only when it is no flag of the command: `init --refresh` is dstream's);
    None when there is none. `hint`: where the command's flags are listed."""
    from dstream.config.redact import masked_assignment

    for word in words:
        name, equals, _ = word.partition("=")
        key = name[1:] if name.startswith("--") else name
        instead = TERRAFORM_ONLY.get(key)
        if instead is not None:
            shown = masked_assignment(word) if equals and key in _SECRET_VALUES else word
            return UsageError(f"{shown}: {instead}", hint=f"leave {name} out; {hint}")
    return None


def single_dash_words(words: Sequence[str]) -> list[str]:
    """The words argparse reads as single-dash flags (or a cluster of them: `-lock=false`
    is `-l ock=false` to it): those before `--` that begin with one dash only."""
    end = words.index("--") if "--" in words else len(words)
    return [word for word in words[:end] if word.startswith("-") and word[1:2] != "-"]

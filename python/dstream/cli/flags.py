"""Converters for flag values (argparse's `type=`), and the config flag, which
several commands' parsers have and every command takes before its name (cli/globalflags.py's
global flags). A value a command cannot use is refused while the command line is
parsed, before anything is changed or started; the parser turns the refusal into a
UsageError naming the flag (parsing.Parser.error).

Every numeric flag goes through `number`: argparse's own `int` and `float` take -1,
`nan` and `inf`, which end in a slice that drops runs, a wait that has already passed
or a crash.

Importing this module imports nothing more (the configuration's limits are imported on
first use): the global flags are read from here on the start of every command that has
one written before its name, `version` among them."""

from __future__ import annotations

import argparse

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Optional, TypeVar

    from dstream.cli.parsing import Flags

    Number = TypeVar("Number", int, float)

_NOUNS: dict[type, str] = {int: "a whole number", float: "a number"}


def terraform_spelling(flag: str) -> tuple[str, str]:
    """`--NAME` and Terraform's `-NAME`, for a flag Terraform has too (docs/cli.md,
    "Terraform's spellings"): only those, so that `terraform plan -var x=1` carries
    over and a single dash stays a short flag's everywhere else."""
    return flag, flag[1:]


# What a switch (a flag that takes no value: `--json`, `-destroy`) may be given after
# `=`, as Terraform's Go flag package and the original's cobra take it (Go's
# strconv.ParseBool): `-destroy=true` is `-destroy`, `-destroy=false` leaves it off.
SWITCH_VALUES: dict[str, bool] = {
    **dict.fromkeys(("1", "t", "T", "true", "TRUE", "True"), True),
    **dict.fromkeys(("0", "f", "F", "false", "FALSE", "False"), False),
}


def switched_on(word: str, flags: tuple[str, ...]) -> bool:
    """Whether `word` turns on the switch spelt `flags`: one of them, bare or with a
    true value (`-json`, `--json=true`)."""
    name, equals, value = word.partition("=")
    return name in flags and (not equals or SWITCH_VALUES.get(value) is True)


JSON_FLAGS = terraform_spelling("--json")
VAR_FLAGS = terraform_spelling("--var")  # crash reports mask their values (cli/crash.py)
VAR_FILE_FLAGS = terraform_spelling("--var-file")


def number(
    kind: type[Number],
    *,
    at_least: Optional[Number] = None,
    above: Optional[Number] = None,
    at_most: Optional[Number] = None,
    unit: str = "",
) -> Callable[[str], Number]:
    """A converter to `kind` (int or float) that takes finite values within the bounds
    only; `unit` names what the number counts, in its messages ("seconds")."""
    noun = f"{_NOUNS[kind]} of {unit}" if unit else _NOUNS[kind]
    bounds = [f"at least {_shown(at_least)}" if at_least is not None else "",
              f"more than {_shown(above)}" if above is not None else "",
              f"at most {_shown(at_most)}" if at_most is not None else ""]  # fmt: skip
    wanted = ", ".join([noun, " and ".join(b for b in bounds if b)]).rstrip(", ")

    def convert(text: str) -> Number:
        import math

        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {wanted}") from None
        if not (
            math.isfinite(value)
            and (at_least is None or value >= at_least)
            and (above is None or value > above)
            and (at_most is None or value <= at_most)
        ):
            raise argparse.ArgumentTypeError(f"{text!r} is out of range: give {wanted}")
        return value

    return convert


def _shown(bound: float) -> str:
    """A bound as a person writes it: 31536000, not 3.1536e+07 nor 31536000.0."""
    return str(int(bound)) if float(bound).is_integer() else str(bound)


def timeout_seconds(text: str) -> float:
    """A wait for a provider: some time, and no more than the longest duration a
    configuration may give (an unbounded one overflows the waits it is given to)."""
    from dstream.config.limits import MAX_DURATION

    return number(float, above=0, at_most=MAX_DURATION, unit="seconds")(text)


def non_empty_path(text: str) -> str:
    """A path flag's value: an empty one would silently mean the default instead."""
    if not text:
        raise argparse.ArgumentTypeError("an empty path: give a file or directory name")
    return text


def add_config_flag(parser: Flags) -> argparse.Action:
    """-c/--config, the configuration a command reads (its action)."""
    return parser.add_argument(
        "-c",
        "--config",
        type=non_empty_path,
        metavar="PATH",
        help="a .hcl file or a directory of them (default: $DSTREAM_CONFIG or ./dstream.hcl)",
    )


def metrics_address(text: str) -> str:
    """--metrics-addr HOST:PORT, checked as the metrics block's addr is."""
    from dstream.config.model import parse_addr

    try:
        parse_addr(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc}; e.g. 127.0.0.1:9464") from None
    return text

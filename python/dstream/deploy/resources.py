"""The resources of a pod `deploy kubernetes` renders, by the tasks it runs.

A task is two provider processes and dstream's share of them: with the built-in
providers (Python) ~53 MiB of RSS a task, dstream itself ~20-35 MiB (measured: 1 task
84 MiB, 3 tasks 181 MiB, 6 tasks 340 MiB; a review saw an agent of 3 tasks on the
postgres state at 197 MiB). So a pod requests MEMORY_BASE and, per task, MEMORY_PER_TASK and
CPU_PER_TASK (docs/scaling.md, "Resources"); its memory limit is LIMIT_FACTOR times the
request for the most tasks it may run (an agent takes over a drained agent's share),
room for a burst, so a leak is stopped rather than the node starved. No CPU limit: a
throttled pipeline only falls behind, and the request already reserves its share.

Quantities are read in the forms Kubernetes takes (`128Mi`, `1Gi`, `100m`, `0.5`) and
written to the byte (in `Mi` when a whole number of them) and in `m` for CPU, so the
figures a test or a reader compares are plain numbers.
"""

from __future__ import annotations

import argparse
import re

MI = 1024 * 1024
MEMORY_BASE = 64 * MI
MEMORY_PER_TASK = 64 * MI
CPU_PER_TASK = 100  # millicores
LIMIT_FACTOR = 2

_MEMORY = re.compile(r"([0-9]+)(Ki|Mi|Gi|Ti|k|M|G|T)?")
_MEMORY_UNITS = {None: 1, "Ki": 1024, "Mi": MI, "Gi": 1024 * MI, "Ti": 1024**2 * MI,
                 "k": 1000, "M": 1000**2, "G": 1000**3, "T": 1000**4}  # fmt: skip
_CPU = re.compile(r"([0-9]+)m|([0-9]+)(?:\.([0-9]{1,3}))?")


def memory(text: str) -> int:
    """A memory quantity (a flag's value) in bytes, above 0."""
    found = _MEMORY.fullmatch(text.strip())
    size = int(found[1]) * _MEMORY_UNITS[found[2]] if found else 0
    if size <= 0:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a memory size above 0 as Kubernetes writes one, such as "
            "64Mi, 1Gi or 500M"
        )
    return size


def cpu(text: str) -> int:
    """A CPU quantity (a flag's value) in millicores, above 0."""
    found = _CPU.fullmatch(text.strip())
    if found is None:
        millis = 0
    elif found[1] is not None:
        millis = int(found[1])
    else:
        millis = int(found[2]) * 1000 + int((found[3] or "0").ljust(3, "0"))
    if millis <= 0:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a CPU quantity above 0 as Kubernetes writes one, such as "
            "100m or 0.5 (at most 3 decimals)"
        )
    return millis


def exact_bytes(size: int) -> str:
    """`size` bytes as a quantity to the byte, in Mi when whole (a request, a limit, or a
    figure a message quotes: rounded up, a limit of 1G was written 954Mi, above what was
    asked, and a request could pass a limit the user gave it to the byte)."""
    return f"{size // MI}Mi" if size % MI == 0 else str(size)


def millicores(millis: int) -> str:
    return f"{millis}m"

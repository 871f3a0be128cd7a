"""Where an SDK provider's stdin chunks live in memory (sdk/host.py, `_tune_allocator`).

The host tunes glibc's allocator (a trim threshold and top pad, against brk churn).
Setting either turns glibc's dynamic mmap threshold off, so the threshold stays what
start-up left it: 128-204 KiB in the dstream-null runs measured. Every 1 MiB chunk the
stdin reader then asks for, once the heap's top is used up (several chunks in flight,
as when the output is slower than dstream's pump), got a mapping of its own: read into
fresh pages, one page fault per 4 KiB of data, and unmapped at free. Measured in
counter -> null at 5 M envelopes: up to 170,000 faults and +40 % of the output's CPU.

A real process runs the host's tuning with glibc's threshold set low and fixed, as
start-up can leave it (MALLOC_MMAP_THRESHOLD_, which also turns the dynamic threshold
off), then holds more read chunks than the heap's growth step; glibc's own accounting
(mallinfo2) says how much of them it mapped on their own. Linux with glibc only.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.workspace import environ

PROBE = """
import ctypes, os
from dstream.sdk.host import _tune_allocator
from dstream.sdk.stdio import CHUNK_SIZE, READ_AHEAD

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
_tune_allocator()
zero = os.open("/dev/zero", os.O_RDONLY)
# More chunks alive than the heap grows by at once (M_TOP_PAD): some are placed by
# sysmalloc, which maps a block over the mmap threshold on its own.
held = [os.read(zero, CHUNK_SIZE) for _ in range(12 * READ_AHEAD)]
print(libc.mallinfo2().hblkhd)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_read_chunks_stay_on_the_heap_whatever_start_up_left() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        env=environ({"MALLOC_MMAP_THRESHOLD_": str(128 * 1024)}),
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    mapped = int(done.stdout)
    assert mapped < 1 << 20, f"{mapped} bytes of read chunks mapped on their own"

"""The pump's per-table counts are of frames forwarded, as `data_frames` is: a batch
the output never took (it closed its input, the run failed or was stopped) counts in
no table. They were counted when queued, so the summary's `table` lines of a failed
or interrupted run added up to more than its `data` count (docs/operations.md: the
counters "are exactly what was forwarded to the output")."""

from __future__ import annotations

import os

from dstream import _core


def frames(count: int, table: str = "t") -> bytes:
    return b"".join(
        b'{"data":%d,"metadata":{"TableName":"%s"}}\n' % (n, table.encode()) for n in range(count)
    )


def pump(data: bytes, *, output_closed: bool) -> dict[str, object]:
    """A real pump over real pipes: `data` in; the output's end closed before it
    starts when `output_closed` (every write then fails), else read afterwards."""
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    try:
        os.write(in_w, data)  # less than a pipe holds
        os.close(in_w)
        if output_closed:
            os.close(out_r)
        result = _core.Pump(in_r, out_w, _core.PumpOptions()).run()
        counters: dict[str, object] = dict(result.counters.as_dict())
        counters["outcome"] = result.outcome
        return counters
    finally:
        for fd in (in_r, out_w, *(() if output_closed else (out_r,))):
            os.close(fd)


def test_a_batch_the_output_never_took_counts_in_no_table() -> None:
    counters = pump(frames(60, "a") + frames(40, "b"), output_closed=True)
    assert counters["outcome"] == "output_closed"
    assert counters["data_frames"] == 0
    assert counters["tables"] == {}


def test_a_complete_run_counts_every_frame_in_its_table() -> None:
    counters = pump(frames(60, "a") + frames(40, "b"), output_closed=False)
    assert counters["outcome"] == "eof"
    assert counters["data_frames"] == 100
    assert counters["tables"] == {"a": 60, "b": 40}

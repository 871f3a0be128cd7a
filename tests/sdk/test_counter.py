"""dstream-counter as a real process: envelope shape, checkpoints, max_count, resume."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from tests.sdk.conftest import command, run


def data_frames(objs: list[Any]) -> list[dict[str, Any]]:
    return [o for o in objs if "data" in o]


def test_handshake_declares_checkpoints() -> None:
    result = run("counter", command({"interval": 0, "max_count": 1}, role="input"))
    assert result.returncode == 0, result.stderr
    assert result.handshake == {"status": "ready", "protocol": 1, "features": ["checkpoints"]}


@pytest.mark.parametrize("interval", [0, 1])
def test_envelopes_have_the_original_shape(interval: int) -> None:
    """interval 0 takes the pre-encoded fast path, interval 1 the dict path: same frames."""
    config = {"interval": interval, "max_count": 4, "tables": ["orders", 'odd "name"']}
    result = run("counter", command(config))
    assert result.returncode == 0, result.stderr
    envelopes = data_frames(result.after_handshake)
    assert [e["data"]["value"] for e in envelopes] == [1, 2, 3, 4]
    for n, envelope in enumerate(envelopes, start=1):
        assert set(envelope) == {"data", "metadata"}
        assert set(envelope["data"]) == {"value", "timestamp"}
        stamp = datetime.fromisoformat(envelope["data"]["timestamp"])
        assert stamp.utcoffset() == timezone.utc.utcoffset(None)
        assert envelope["metadata"] == {
            "seq": n,
            "interval_ms": interval,
            "provider": "counter-input-provider",
            "TableName": ["orders", 'odd "name"'][(n - 1) % 2],
        }


@pytest.mark.parametrize("interval", [0, 1])
def test_checkpoints_every_n_and_at_the_end(interval: int) -> None:
    config = {"interval": interval, "max_count": 7, "checkpoint_every": 3}
    result = run("counter", command(config))
    assert result.returncode == 0, result.stderr
    stream = [
        ("cp", f["checkpoint"]["seq"]) if "checkpoint" in f else ("d", f["data"]["value"])
        for f in result.after_handshake
    ]
    assert stream == [
        ("d", 1), ("d", 2), ("d", 3), ("cp", 3),
        ("d", 4), ("d", 5), ("d", 6), ("cp", 6),
        ("d", 7), ("cp", 7),
    ]  # fmt: skip


def test_no_duplicate_final_checkpoint_and_bursts_cross_checkpoint_boundaries() -> None:
    result = run("counter", command({"interval": 0, "max_count": 2500, "checkpoint_every": 500}))
    assert result.returncode == 0, result.stderr
    checkpoints = [f["checkpoint"]["seq"] for f in result.after_handshake if "checkpoint" in f]
    assert checkpoints == [500, 1000, 1500, 2000, 2500]
    values = [f["data"]["value"] for f in data_frames(result.after_handshake)]
    assert values == list(range(1, 2501))
    # Every checkpoint follows exactly the envelope it names.
    objs = result.after_handshake
    for i, frame in enumerate(objs):
        if "checkpoint" in frame:
            assert objs[i - 1]["data"]["value"] == frame["checkpoint"]["seq"]


def test_resumes_after_the_acknowledged_checkpoint() -> None:
    config = {"interval": 0, "max_count": 10, "checkpoint_every": 4}
    result = run("counter", command(config, state={"seq": 6}))
    assert result.returncode == 0, result.stderr
    values = [f["data"]["value"] for f in data_frames(result.after_handshake)]
    assert values == [7, 8, 9, 10]
    assert result.after_handshake[-1] == {"checkpoint": {"seq": 10}}
    for interval in (0, 1):  # nothing left to count: no frame at all
        done = run("counter", command({**config, "interval": interval}, state={"seq": 10}))
        assert done.returncode == 0 and done.after_handshake == []


def test_legacy_bare_config_line_means_run() -> None:
    """The original DStream wrote the provider's config object alone."""
    result = run("counter", b'{"interval":0,"max_count":2}\n')
    assert result.returncode == 0, result.stderr
    assert result.handshake["status"] == "ready"
    assert [f["data"]["value"] for f in data_frames(result.after_handshake)] == [1, 2]


def test_logs_go_to_stderr_as_json_records() -> None:
    result = run("counter", command({"interval": 0, "max_count": 1}))
    assert {"level": "info", "msg": "counter starting"}.items() <= result.logs[0].items()
    assert all(line.startswith(b"{") for line in result.lines)


@pytest.mark.parametrize("state", [[1, 2], {"seq": "6"}, {"n": 6}, 5, {"seq": -1}])
def test_a_checkpoint_that_is_not_its_own_is_refused_at_the_handshake(state: object) -> None:
    """Set by hand (`dstream state set`) or by another input: starting over from 1, as
    it did with a warning, sends everything again; the run must not pass for a resume."""
    result = run("counter", command({"interval": 0, "max_count": 3}, state=state))
    assert result.returncode == 1
    answer = result.objects[0]
    assert answer["status"] == "error", answer
    assert 'is not the counter\'s {"seq": n}' in answer["message"], answer
    assert "--reset-state" in answer["message"] + answer.get("hint", ""), answer

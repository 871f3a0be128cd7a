"""A held lease's local deadline, as a run's pump is given it (state/keeper.py,
`follow_deadline`): at once and after each renewal, so that a pump renewed in time
streams on past the first deadline; and a pump that saw it pass makes the lease lost
(`lease_deadline_passed`). The file backend has no lease: no deadline."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from dstream import _core
from dstream.config.model import StateSpec
from dstream.errors import LockLost
from dstream.state import open_store
from dstream.state.lease import LeaseDeadlinePassed
from dstream.state.postgres import PostgresStore

LINE = b'{"data":1}\n'


def test_the_file_backend_gives_no_deadline(tmp_path: Path) -> None:
    spec = StateSpec(backend="file", path=str(tmp_path / "state"))
    given: list[float] = []
    with open_store(spec, str(tmp_path)) as store, store.hold_run("orders"):
        store.follow_lease_deadline("orders", given.append)
        store.lease_deadline_passed("orders")  # nothing to lose
        store.put("orders", 1)
    assert given == []


@pytest.mark.timeout(60)
def test_renewals_carry_the_pumps_deadline_past_the_first_one(pg_spec: StateSpec) -> None:
    """A real pump over pipes, following the lease: it streams well past the deadline the
    lease had when it started, because every renewal moved the pump's on."""
    input_r, input_w = os.pipe()
    output_r, output_w = os.pipe()
    pump = _core.Pump(input_r, output_w, _core.PumpOptions())
    given: list[float] = []

    def follow(deadline: float) -> None:
        given.append(deadline)
        pump.set_deadline(deadline)

    results: list[_core.PumpResult] = []
    with open_store(pg_spec, ".") as store, store.hold_run("orders"):
        store.follow_lease_deadline("orders", follow)
        first = given[0]  # given at once
        assert time.monotonic() < first
        thread = threading.Thread(target=lambda: results.append(pump.run()))
        thread.start()
        while time.monotonic() <= first + pg_spec.lease_renew_interval:
            os.write(input_w, LINE)
            time.sleep(0.05)
        os.write(input_w, LINE)  # past the first deadline
        os.close(input_w)
        thread.join()
    os.close(output_w)
    with os.fdopen(output_r, "rb") as out:
        forwarded = out.read()
    os.close(input_r)
    assert results[0].outcome == "eof", results[0]
    assert forwarded.count(LINE) == results[0].counters.data_frames
    assert given == sorted(given) and len(given) > 1


def test_a_pump_that_saw_the_deadline_pass_makes_the_lease_lost(pg_spec: StateSpec) -> None:
    lost: list[LockLost] = []
    with open_store(pg_spec, ".") as store, store.hold_run("orders"):
        store.on_lease_lost("orders", lost.append)
        store.put("orders", 1)
        store.lease_deadline_passed("orders")
        assert [type(error) for error in lost] == [LeaseDeadlinePassed]
        with pytest.raises(LeaseDeadlinePassed):  # nothing is stored past it
            store.put("orders", 2)
    assert_stored(pg_spec, 1)


def test_a_renewal_answered_past_its_deadline_does_not_revive_the_lease(
    pg_spec: StateSpec,
) -> None:
    """The keeper's rule for a late answer (`_renewed`): a renewal that began before the
    lease's deadline and was answered after it leaves the lease lost, though its own
    start would trust it on (the pump stopped at the old deadline). In a run the
    watchdog sees the deadline pass within 0.1 s and a renewal answered in that gap is
    rare; so the keeper's threads are stopped (a paused keeper, as if the answer were
    on its way) and the answer is handed to the keeper as its renewal loop would."""
    given: list[float] = []
    lost: list[LockLost] = []
    store = open_store(pg_spec, ".")
    assert isinstance(store, PostgresStore)
    keeper = store._keeper
    with store, store.hold_run("orders"):
        store.follow_lease_deadline("orders", given.append)
        store.on_lease_lost("orders", lost.append)
        store.put("orders", 1)
        keeper.close()  # neither renews nor watches from now: only the answer below
        held = keeper._held["orders"]
        deadline = held.deadline
        started = deadline - 0.3  # the renewal began before the deadline...
        time.sleep(max(0.0, deadline - time.monotonic()) + 0.05)
        assert time.monotonic() > deadline  # ...and is answered past it
        assert started + keeper._trusted() > time.monotonic()  # which it would revive
        keeper._renewed(held, started)
        assert given[-1] == deadline  # the pump was given no later deadline
        assert [type(error) for error in lost] == [LeaseDeadlinePassed]
        with pytest.raises(LeaseDeadlinePassed):  # nothing is stored past it
            store.put("orders", 2)
    assert_stored(pg_spec, 1)


def assert_stored(spec: StateSpec, checkpoint: int) -> None:
    """What another process reads from the store: `checkpoint` (none written past it)."""
    with open_store(spec, ".") as other:
        record = other.get("orders")
        assert record is not None and record.checkpoint == checkpoint


@pytest.mark.timeout(60)
def test_a_second_sighting_of_the_loss_returns_once_the_run_was_told(pg_spec: StateSpec) -> None:
    """The pump and the keeper's watchdog may see a lost lease at once, in two threads.
    Whichever comes second must not go on before the first has told the run (the run's
    callback brings its stop deadline forward): the pump's thread would otherwise give
    the output its end of stream rather than kill it (a holder resumed past its lease,
    tests/scale/test_paused_holder_sink.py)."""
    telling, release = threading.Event(), threading.Event()
    order: list[str] = []

    def slow_to_tell(error: LockLost) -> None:
        telling.set()
        release.wait(10)
        order.append("run told")

    def second_sighting(store: PostgresStore) -> None:
        store.lease_deadline_passed("orders")
        order.append("second sighting returned")

    with open_store(pg_spec, ".") as store, store.hold_run("orders"):
        assert isinstance(store, PostgresStore)
        store.on_lease_lost("orders", slow_to_tell)
        first = threading.Thread(target=store.lease_deadline_passed, args=("orders",))
        first.start()
        assert telling.wait(10)
        second = threading.Thread(target=second_sighting, args=(store,))
        second.start()
        second.join(0.5)  # returned at once, before the run was told: the defect
        release.set()
        first.join(10)
        second.join(10)
    assert order == ["run told", "second sighting returned"]

"""The conformance suite against real provider processes: the built-in providers and a
standard-library provider (raw_provider.py) that keeps every promise, then breaks one
promise at a time. A check that never fails would prove nothing, so each check is shown
failing on the flaw it exists to catch, with its reason."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Optional

import orjson
import pytest

from dstream.errors import UsageError
from dstream.kit.checks import CHECKS
from dstream.kit.conformance import described_role, run_suite
from dstream.kit.harness import Target
from tests.hostile.numbers import BIG
from tests.kit.conftest import RAW_PROVIDER, statuses
from tests.workspace import dstream, executable, json_document

BUILTINS = [
    ("dstream-counter", '{"interval": 10, "max_count": 1000, "checkpoint_every": 5}'),
    ("dstream-console", "{}"),
    ("dstream-null", "{}"),
]


@pytest.mark.parametrize(("name", "config"), BUILTINS)
def test_builtin_providers_conform(name: str, config: str) -> None:
    if shutil.which(name) is None:
        pytest.fail(f"{name} is not installed: pip install -e . installs the console scripts")
    proc = dstream("provider", "test", name, "--config", config, "--json")
    report = json_document(proc)
    assert proc.returncode == 0, proc.stdout
    assert report["ok"] and report["failed"] == 0
    found = statuses(report)
    # The checks that matter for its role ran and passed, not merely skipped.
    must_pass = {"handshake", "config-error", "bad-command-line", "legacy-command-line", "sigterm"}
    must_pass |= (
        {"frames", "checkpoints", "eof"}
        if report["role"] == "input"
        else {"checkpoint-echo", "eof"}
    )
    assert {name for name, status in found.items() if status == "pass"} >= must_pass


def test_file_output_conforms(tmp_path: Path) -> None:
    config = orjson.dumps({"path": f"{tmp_path}/{{TableName}}.jsonl"}).decode()
    proc = dstream("provider", "test", "dstream-file", "--role", "output", "--config", config)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "conforms" in proc.stdout and "FAIL" not in proc.stdout
    assert (tmp_path / "conformance.jsonl").read_text().count("dstream conformance") > 0


def _raw(
    role: str, tmp_path: Path, flaw: str = "", config: str = "{}", only: Optional[str] = None
) -> dict[str, str]:
    """The suite run in this process (the CLI is exercised by the tests below)."""
    target = Target(
        argv=[str(RAW_PROVIDER)],
        role=role,
        label="raw",
        config=orjson.loads(config),
        env={"RAW_ROLE": role, "RAW_STATE": str(tmp_path), "FLAW": flaw},
        timeout=3,
        grace=3,
    )
    report = run_suite(target, only=[only] if only else None)
    return {r.name: f"{r.status}: {r.reason}" for r in report.results}


@pytest.mark.parametrize("role", ["input", "output"])
def test_a_provider_from_the_protocol_alone_passes_every_check(role: str, tmp_path: Path) -> None:
    results = _raw(role, tmp_path)
    assert {c.name for c in CHECKS if role in c.roles} == set(results)
    assert all(r.startswith("pass") for r in results.values()), results


# (role, flaw, config, the check that must fail, a word its reason must contain)
FLAWS = [
    ("input", "handshake-features-not-a-list", "{}", "handshake", "must be a list"),
    # It said '"protocol" is '1'; dstream speaks protocol 1', which reads as a contradiction.
    ("input", "handshake-protocol-as-text", "{}", "handshake", 'is "1", not a protocol number'),
    # It passed as "no protocol", while dstream run refuses it.
    ("input", "handshake-protocol-null", "{}", "handshake", "is null, not a protocol number"),
    ("output", "handshake-protocol-null", "{}", "handshake", "is null, not a protocol number"),
    ("input", "accepts-unknown-key", "{}", "config-error", "accepted"),
    ("output", "accepts-unknown-key", "{}", "config-error", "accepted"),
    ("input", "silent-bad-command-line", "{}", "bad-command-line", "without saying why"),
    ("output", "needs-command", "{}", "legacy-command-line", "refused"),
    ("input", "needs-command", "{}", "legacy-command-line", "refused"),
    ("input", "bad-frame", "{}", "frames", "not an object"),
    # JSON's names for JSON values: it said "got list" (Python's), "a JSON str".
    ("input", "metadata-not-an-object", "{}", "frames", '"metadata" must be an object, got a list'),
    ("output", "lifecycle-result-a-string", "{}", "lifecycle-shape", "is a string, not an object"),
    ("input", "exit-1-at-end", '{"count": 5}', "eof", "code 1"),
    # It passed frames ("7 data frame(s), 1 checkpoint(s), all valid"); only eof failed.
    ("input", "crash-mid-stream", "{}", "frames", "stream cut: it exited with code 3"),
    # Its torn last line failed frames as a frame that is "not JSON".
    ("input", "killed-mid-stream", "{}", "frames", "stream cut: it was killed by SIGKILL"),
    # It declared checkpoints, sent none, and passed every check.
    ("input", "no-checkpoints", "{}", "checkpoints", "declares checkpoints"),
    ("input", "no-checkpoints", '{"count": 3}', "checkpoints", "ended its stream after 3"),
    ("input", "ignore-sigterm", "{}", "sigterm", "after SIGTERM"),
    ("input", "die-on-sigterm", "{}", "sigterm", "killed by SIGTERM"),
    ("input", "crash-on-commit", "{}", "commit-notices", "code 3"),
    ("output", "ack-unknown", "{}", "checkpoint-echo", "never got"),
    ("output", "ack-reversed", "{}", "checkpoint-echo", "out of order"),
    ("output", "no-final-ack", "{}", "checkpoint-echo", "last checkpoint"),
    ("output", "ack-at-eof-only", "{}", "ack-while-open", "stdin stayed open"),
    ("output", "exit-1-at-eof", "{}", "eof", "code 1"),
    # It quoted the SDK's closing info line and advised to echo the checkpoint line.
    ("output", "crash-mid-run", "{}", "checkpoint-echo", "RuntimeError: boom"),
    ("output", "crash-mid-run", "{}", "eof", "RuntimeError: boom"),
    # It passed eof ("flushed and exited 0 at EOF") and said its stdin "stayed open".
    ("output", "exit-at-once", "{}", "eof", "while its stdin was still being written"),
    ("output", "exit-at-once", "{}", "ack-while-open", "acknowledged nothing, and exited"),
    ("output", "lifecycle-bad-shape", "{}", "lifecycle-shape", "resources"),
    ("input", "init-not-idempotent", "{}", "init-idempotent", "created again"),
    ("output", "destroy-fails-when-gone", "{}", "destroy-idempotent", "what is gone must succeed"),
]


@pytest.mark.parametrize(
    ("role", "flaw", "config", "check", "word"), FLAWS, ids=[f"{f[0]}-{f[1]}" for f in FLAWS]
)
def test_each_flaw_fails_its_check(
    role: str, flaw: str, config: str, check: str, word: str, tmp_path: Path
) -> None:
    results = _raw(role, tmp_path, flaw, config, only=check)
    assert results[check].startswith("fail"), results
    assert word in results[check], results[check]


def test_a_crash_mid_stream_says_where_the_stream_was_cut(tmp_path: Path) -> None:
    """7 envelopes and a checkpoint, then exit 3: frames names the exit, what was read
    before it and where, and the error it logged."""
    reason = _raw("input", tmp_path, "crash-mid-stream", only="frames")["frames"]
    assert reason.startswith("fail: stream cut: it exited with code 3 after 8 valid "), reason
    assert "(7 data, 1 checkpoint(s)), at offset " in reason, reason
    assert "source lost" in reason and "all valid" not in reason, reason


def test_a_line_torn_by_a_crash_is_the_cut_not_an_invalid_frame(tmp_path: Path) -> None:
    """dstream discards a crashed input's torn last line: the reason says so, instead of
    calling it a frame that is not JSON."""
    reason = _raw("input", tmp_path, "killed-mid-stream", only="frames")["frames"]
    assert reason.startswith("fail: stream cut: it was killed by SIGKILL after 8 valid "), reason
    torn = '{"data":{"n":'
    assert f"a torn last line of {len(torn)} bytes at offset " in reason, reason
    assert "not JSON" not in reason, reason


def test_checkpoints_is_skipped_for_an_input_that_does_not_declare_them(tmp_path: Path) -> None:
    script = tmp_path / "plain-input"
    executable(
        script,
        '#!/bin/sh\nread -r command\necho \'{"status":"ready","protocol":1}\'\n'
        'for n in 1 2 3; do echo \'{"data":{"n":\'$n\'},"metadata":{}}\'; done\n',
    )
    proc = dstream("provider", "test", str(script), "--role", "input", "--check",
                   "checkpoints", "--json")  # fmt: skip
    [check] = json_document(proc)["checks"]
    assert proc.returncode == 0 and check["status"] == "skip", check
    assert check["reason"] == "does not declare checkpoints", check


def test_every_check_is_shown_failing() -> None:
    covered = {check for _, _, _, check, _ in FLAWS}
    assert covered == {c.name for c in CHECKS}


def test_table_and_exit_code(tmp_path: Path) -> None:
    proc = dstream(
        "provider", "test", str(RAW_PROVIDER), "--role", "output", "--timeout", "3",
        "--grace", "3", "--env", "RAW_ROLE=output", "--env", f"RAW_STATE={tmp_path}",
        "--env", "FLAW=ack-reversed",
    )  # fmt: skip
    assert proc.returncode == 1
    row = next(line for line in proc.stdout.splitlines() if line.startswith("checkpoint-echo"))
    assert "FAIL" in row and "out of order" in row
    assert "does NOT conform" in proc.stdout


def test_a_config_with_big_integers_reaches_the_provider_exactly(tmp_path: Path) -> None:
    """--config is read and sent on as dstream sends a config: an integer beyond 64 bits
    keeps every digit (orjson rounded it to a double)."""
    seen = tmp_path / "seen.jsonl"
    big = BIG
    proc = dstream(
        "provider", "test", str(RAW_PROVIDER), "--role", "output", "--timeout", "3",
        "--grace", "3", "--config", f'{{"interval_ms": {big}}}', "--env", "RAW_ROLE=output",
        "--env", f"RAW_STATE={tmp_path}", "--env", f"RAW_SEEN={seen}",
    )  # fmt: skip
    assert proc.returncode in (0, 1) and "internal error" not in proc.stderr, proc.stderr
    configs = [json.loads(line) for line in seen.read_text().splitlines()]  # exact ints
    sent = [c["interval_ms"] for c in configs if "interval_ms" in c]
    assert sent, configs
    assert all(repr(value) == str(big) for value in sent), sent


def test_a_config_that_is_no_object_is_named_as_json_names_it() -> None:
    """It said "--config must be a JSON object, got list": Python's name, not JSON's."""
    proc = dstream("provider", "test", "dstream-null", "--config", '"interval"')
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "--config must be a JSON object, got a string" in proc.stderr, proc.stderr


def test_role_is_found_out_when_not_given() -> None:
    for name, role in (("dstream-counter", "input"), ("dstream-null", "output")):
        proc = dstream("provider", "test", name, "--check", "handshake", "--frames", "2", "--json")
        assert json_document(proc)["role"] == role


def test_unknown_provider_is_a_usage_error() -> None:
    proc = dstream("provider", "test", "no-such-provider-anywhere")
    assert proc.returncode == 2
    assert "not a file, not on PATH" in proc.stderr and "hint:" in proc.stderr


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--check", "nosuch"], ["'nosuch'", "handshake", "checkpoint-echo"]),
        (["--check", "handshake", "--check", "frame"], ["'frame'", "did you mean 'frames'"]),
        (["--role", "output", "--check", "frames"], ["'frames'", "input providers only"]),
    ],
)
def test_an_unknown_check_is_a_usage_error(argv: list[str], words: list[str]) -> None:
    proc = dstream("provider", "test", "dstream-counter", *argv)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "conforms" not in proc.stdout and "\n  hint: " in proc.stderr
    for word in words:
        assert word in proc.stderr, (word, proc.stderr)


def test_an_unknown_check_is_refused_in_process(tmp_path: Path) -> None:
    target = Target(argv=[str(RAW_PROVIDER)], role="output", label="raw", timeout=3, grace=3)
    with pytest.raises(UsageError, match="'nosuch'"):
        run_suite(target, only=["nosuch"])


def test_in_process_api(tmp_path: Path) -> None:
    """run_suite is usable from a provider author's own pytest (the scaffold does so)."""
    target = Target(
        argv=[str(RAW_PROVIDER)], role="output", label="raw", timeout=3, grace=3,
        env={"RAW_ROLE": "output", "RAW_STATE": str(tmp_path)},
    )  # fmt: skip
    report = run_suite(target, only=["checkpoint-echo"])
    assert [r.status for r in report.results] == ["pass"] and report.ok


def test_a_legacy_provider_is_detected(tmp_path: Path) -> None:
    """An original-DStream-style input: reads its config line, writes envelopes, no
    handshake. dstream takes its first line as data; the suite says so."""
    script = tmp_path / "legacy-input"
    executable(
        script,
        "#!/bin/sh\nread -r config\n"
        'for n in 1 2 3; do echo \'{"data":{"n":\'$n\'},"metadata":{}}\'; done\n',
    )
    proc = dstream("provider", "test", str(script), "--check", "handshake", "--check",
                   "frames", "--check", "eof", "--json")  # fmt: skip
    report = json_document(proc)
    assert report["role"] == "input" and report["ok"], proc.stdout
    reasons = {c["name"]: c["reason"] for c in report["checks"]}
    assert reasons["handshake"].startswith("legacy provider")
    assert reasons["frames"] == "3 data frame(s), 0 checkpoint(s), all valid"
    assert reasons["eof"] == "ended its stream and exited 0"


@pytest.mark.parametrize(
    ("name", "role"), [("dstream-counter", "input"), ("dstream-null", "output")]
)
def test_an_sdk_provider_names_its_role_when_described(name: str, role: str) -> None:
    """The role comes from the describe probe's `role` member (protocol section 2), not
    from the words of a refusal."""
    found = shutil.which(name)
    assert found, f"{name} is not installed"
    assert described_role([found], timeout=30) == role
    assert described_role([str(RAW_PROVIDER)], timeout=30) is None  # names none

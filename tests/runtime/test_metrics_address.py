"""Where metrics are served: an IPv6 address (which the one address parser takes, in
brackets) is served on IPv6; a port that cannot be had is exit 2 naming where the
address came from: the metrics block's file:line:col (and no flag the user did not
use), or the flag. And every metric's HELP says what docs/operations.md's table says."""

from __future__ import annotations

import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.runtime.conftest import metrics_address, scrape
from tests.services import require_service
from tests.workspace import Workspace

DOCS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"

# Runs until stopped: a counter with no end into dstream-null.
ENDLESS = """
{metrics}
task "t" {{
  input {{
    provider_path = "dstream-counter"
    config {{ interval = 50 }}
  }}
  output {{ provider_path = "dstream-null" }}
}}
"""


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.timeout(120)
@pytest.mark.skipif(not _ipv6_loopback(), reason="this host has no IPv6 loopback")
@pytest.mark.parametrize("where", ["flag", "block"])
def test_an_ipv6_address_is_served_on_ipv6(ws: Workspace, where: str) -> None:
    block = 'metrics { addr = "[::1]:0" }' if where == "block" else ""
    ws.config(ENDLESS.format(metrics=block))
    flag = ["--metrics-addr", "[::1]:0"] if where == "flag" else []
    proc = ws.popen("run", "t", *flag)
    try:
        addr = metrics_address(proc)
        assert addr.startswith("[::1]:"), addr  # a URL's form of an IPv6 address
        assert "dstream_up" in scrape(addr)[1]
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()


# Run inside a network namespace of its own, whose net.ipv6.bindv6only is set: dstream
# with `--metrics-addr [::]:0`, then /healthz asked on 127.0.0.1 and on ::1.
BOTH_FAMILIES = r"""
import re, signal, subprocess, sys, urllib.request
proc = subprocess.Popen([sys.executable, "-m", "dstream.cli.app", "run", "t",
                         "--metrics-addr", "[::]:0"], stderr=subprocess.PIPE, text=True)
port = None
for line in proc.stderr:
    found = re.search(r"metrics on http://\S+:(\d+)/metrics", line)
    if found:
        port = found[1]
        break
for host in ("127.0.0.1", "[::1]"):
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=10) as answer:
            print(host, answer.status)
    except OSError as exc:
        print(host, "refused", exc)
proc.send_signal(signal.SIGINT)
proc.communicate(timeout=60)
"""


@pytest.mark.timeout(120)
@pytest.mark.parametrize("v6only", ["0", "1"])
def test_every_address_of_both_families_is_served_on_ipv6_and_ipv4(
    ws: Workspace, v6only: str
) -> None:
    """`[::]` (the Kubernetes manifests' address) answers on IPv4 and IPv6 addresses
    alike, whatever the host's default: run in a network namespace whose
    net.ipv6.bindv6only is each value (this host's is 0, where an IPv6 socket without
    IPV6_V6ONLY=0 served IPv4 too, and the test could not fail)."""
    if shutil.which("unshare") is None:
        require_service("unshare (util-linux), for a network namespace of the test's own")
    ws.config(ENDLESS.format(metrics=""))
    setup = f"ip link set lo up && echo {v6only} > /proc/sys/net/ipv6/bindv6only"
    done = subprocess.run(
        ["unshare", "-rn", "sh", "-c", f'{setup} && exec "$0" -c "$1"', sys.executable,
         BOTH_FAMILIES],
        cwd=ws.root, capture_output=True, text=True, timeout=100,
    )  # fmt: skip
    assert done.stdout.splitlines() == ["127.0.0.1 200", "[::1] 200"], done.stdout + done.stderr


def test_a_port_in_use_from_the_block_names_the_file_not_the_flag(
    ws: Workspace, taken_port: int
) -> None:
    config = ws.config(ENDLESS.format(metrics=f'metrics {{ addr = "127.0.0.1:{taken_port}" }}'))
    done = ws.run("run", "t")
    assert done.returncode == 2, done.stderr
    assert f"error: {config.name}:2:" in done.stderr, done.stderr  # where addr is written
    assert f"127.0.0.1:{taken_port}" in done.stderr
    assert "--metrics-addr" not in done.stderr, done.stderr  # the user did not use it
    assert "hint: " in done.stderr and "metrics block" in done.stderr, done.stderr


def test_a_port_in_use_from_the_flag_names_the_flag(ws: Workspace, taken_port: int) -> None:
    ws.config(ENDLESS.format(metrics='metrics { addr = "127.0.0.1:0" }'))
    done = ws.run("run", "t", "--metrics-addr", f"127.0.0.1:{taken_port}")
    assert done.returncode == 2, done.stderr
    assert "dstream.hcl" not in done.stderr, done.stderr  # the block's address is not used
    assert "--metrics-addr" in done.stderr


def _documented() -> dict[str, str]:
    """docs/operations.md's metrics table: name -> meaning, as plain text."""
    rows = re.findall(r"^\| `(dstream_\w+)` \| \w+ \| .* \| ([^|]+?) \|$", DOCS.read_text(), re.M)
    return {name: meaning.replace("`", "") for name, meaning in rows}


@pytest.mark.timeout(120)
def test_every_metric_says_what_the_docs_say(ws: Workspace) -> None:
    ws.config(ENDLESS.format(metrics=""))
    proc = ws.popen("run", "t", "--metrics-addr", "127.0.0.1:0")
    try:
        _, text = scrape(metrics_address(proc))
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    helps = dict(re.findall(r"^# HELP (\w+) (.+)$", text, re.M))
    documented = _documented()
    # Both ways: a metric served and not in the table (or the table's row unread) fails.
    assert set(documented) == {name for name in helps if name.startswith("dstream_")}, helps
    for name, meaning in documented.items():
        assert name in helps, (name, sorted(helps))
        assert helps[name].lower() == meaning.lower(), name

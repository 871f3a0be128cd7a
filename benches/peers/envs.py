"""The peers' own virtualenvs: singer-sdk, target-jsonl and meltano pin versions that
conflict with each other (target-jsonl needs the old singer-python) and with dstream's
environment, so each gets a venv of its own, built once from PyPI and reused.

Where: $DSTREAM_BENCH_PEERS_DIR, else ~/.cache/dstream/bench-peers. CI can build them
ahead with `python -m benches.peers.envs`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# Versions the figures in docs/benchmarks.md were measured with.
REQUIREMENTS = {
    "tap": "singer-sdk==0.54.9",
    "target": "target-jsonl==0.1.4",
    "meltano": "meltano==4.4.1",
}


def peers_dir() -> Path:
    configured = os.environ.get("DSTREAM_BENCH_PEERS_DIR")
    if configured:
        return Path(configured)
    return Path.home() / ".cache" / "dstream" / "bench-peers"


def venv_python(name: str) -> Path:
    return peers_dir() / name / "bin" / "python"


def ready(name: str) -> bool:
    return venv_python(name).exists() and (peers_dir() / name / ".dstream-bench-ready").exists()


def ensure(name: str) -> Path:
    """The venv's python, building the venv first if needed. Raises RuntimeError with
    pip's last words when PyPI cannot be reached."""
    python = venv_python(name)
    marker = peers_dir() / name / ".dstream-bench-ready"
    if ready(name):
        return python
    venv = peers_dir() / name
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    pip = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            REQUIREMENTS[name],
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if pip.returncode != 0:
        raise RuntimeError(
            f"cannot install {REQUIREMENTS[name]} into {venv}: {pip.stderr.strip()[-800:]}"
        )
    marker.write_text(REQUIREMENTS[name] + "\n")
    return python


def main() -> None:
    for name in REQUIREMENTS:
        print(ensure(name))


if __name__ == "__main__":
    main()

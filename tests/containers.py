"""An OCI registry and podman's Docker API, started on loopback in a temporary directory
and stopped by PID (tests/conftest.py makes the fixtures `registry`, `auth_registry` and
`podman` from them)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket as socketlib
import subprocess
import tempfile
import textwrap
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import pytest

from tests.services import free_port, require_service, running, start_logged, started, stop_pid
from tests.workspace import executable


# -- an OCI registry ---------------------------------------------------------------------
def _answers_http(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=1).close()
    except urllib.error.HTTPError:
        return True  # 401 with auth: it is up
    except OSError:
        return False
    return True


class Registry:
    """The CNCF distribution registry (Debian docker-registry) on a free loopback port,
    optionally behind htpasswd basic auth."""

    def __init__(self, root: Path, htpasswd: Optional[tuple[str, str]] = None) -> None:
        self.root = root
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.proc: Optional[subprocess.Popen[bytes]] = None
        auth = ""
        if htpasswd:
            user, password = htpasswd
            line = subprocess.run(
                ["htpasswd", "-Bbn", user, password], capture_output=True, check=True
            ).stdout
            (root / "htpasswd").write_bytes(line)
            auth = f"auth: {{htpasswd: {{realm: dstream-test, path: {root}/htpasswd}}}}"
        (root / "config.yml").write_text(
            textwrap.dedent(
                f"""\
                version: 0.1
                log: {{level: error, accesslog: {{disabled: true}}}}
                storage: {{filesystem: {{rootdirectory: {root}/data}}, delete: {{enabled: true}}}}
                http: {{addr: {self.host}}}
                {auth}
                """
            )
        )

    def start(self) -> None:
        self.proc = start_logged(
            f"docker-registry on {self.host}",
            ["docker-registry", "serve", str(self.root / "config.yml")],
            self.root / "registry.log",
            lambda _: _answers_http(f"http://{self.host}/v2/"),
            timeout=20,
        )

    def stop(self) -> None:
        if self.proc is not None:
            stop_pid(self.proc.pid)
            self.proc.wait()
            self.proc = None

    def blob_file(self, digest: str) -> Path:
        hexpart = digest.split(":", 1)[1]
        return self.root / f"data/docker/registry/v2/blobs/sha256/{hexpart[:2]}/{hexpart}/data"


def registry(root: Path, htpasswd: Optional[tuple[str, str]] = None) -> Iterator[Registry]:
    """A running registry in `root` for the generator's life (a fixture yields from it)."""
    if not shutil.which("docker-registry"):
        require_service("docker-registry is not installed (apt-get install docker-registry)")
    if htpasswd and not shutil.which("htpasswd"):
        require_service("htpasswd is not installed (apt-get install apache2-utils)")
    root.mkdir()
    with running("docker-registry", lambda: started(Registry(root, htpasswd))) as reg:
        yield reg


# -- podman's Docker API -----------------------------------------------------------------
PODMAN_CONF = """\
[containers]
default_ulimits = []
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
"""
BUSYBOX = "/bin/busybox"


class Podman:
    """`podman system service` on a unix socket: the Docker-compatible API, with its own
    storage under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.socket = root / "podman.sock"
        self.docker_host = f"unix://{self.socket}"
        self.env = {**os.environ, "CONTAINERS_CONF": str(root / "containers.conf")}
        # podman refuses a runroot over 50 characters, which a test's tmp_path under
        # pytest-xdist (.../popen-gw2/test_...) is: a short one of its own, removed at stop.
        self.runroot = Path(tempfile.mkdtemp(prefix="dstream-podman-"))
        self.base = ["podman", "--root", str(root / "storage"), "--runroot", str(self.runroot)]
        self.proc: Optional[subprocess.Popen[bytes]] = None

    def podman(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([*self.base, *args], env=self.env, capture_output=True, **kw)

    def start(self) -> None:
        (self.root / "containers.conf").write_text(PODMAN_CONF)
        self.proc = start_logged(
            "podman system service",
            [*self.base, "system", "service", "--time=0", self.docker_host],
            self.root / "service.log",
            lambda _: self.socket.exists(),
            env=self.env,
            timeout=30,
        )

    def build(self, name: str, files: dict[str, str], cmd: list[str]) -> str:
        """An image from a rootfs of busybox-static plus `files` (path -> script text),
        imported locally: no registry or network needed."""
        rootfs = self.root / f"rootfs-{name.replace('/', '_').replace(':', '_')}"
        (rootfs / "bin").mkdir(parents=True)
        shutil.copy(BUSYBOX, rootfs / "bin/busybox")
        for applet in ("sh", "cat", "echo", "printf", "sleep"):
            (rootfs / "bin" / applet).symlink_to("busybox")
        for rel, text in files.items():
            executable(rootfs / rel, text)
        tarball = rootfs.with_suffix(".tar")
        subprocess.run(["tar", "-C", str(rootfs), "-cf", str(tarball), "."], check=True)
        done = self.podman("import", "--change", "CMD " + json.dumps(cmd), str(tarball), name)
        if done.returncode != 0:
            pytest.fail(f"podman import failed: {done.stderr.decode()}")
        return name

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.podman("rm", "--all", "--force", timeout=60)
        if self.proc is not None:
            stop_pid(self.proc.pid)
            self.proc.wait()
            self.proc = None
        shutil.rmtree(self.runroot, ignore_errors=True)


def podman(root: Path) -> contextlib.AbstractContextManager[Podman]:
    """`with podman(root) as engine:` — podman's Docker API for the block."""
    for tool in ("podman", "runc"):
        if not shutil.which(tool):
            require_service(f"{tool} is not installed (apt-get install podman runc)")
    if not os.path.exists(BUSYBOX):
        require_service("busybox-static is not installed (apt-get install busybox-static)")
    return running("podman", lambda: started(Podman(root)))


class EngineProxy:
    """A unix socket that forwards every connection to podman's: `cut()` closes it and
    every connection through it, as an engine that went away mid-run (the containers
    it started keep running in podman)."""

    def __init__(self, root: Path, engine: Podman) -> None:
        self.socket = root / "proxy.sock"
        self.docker_host = f"unix://{self.socket}"
        self._target = str(engine.socket)
        self._listener = socketlib.socket(socketlib.AF_UNIX)
        self._listener.bind(str(self.socket))
        self._listener.listen(64)
        self._open: list[socketlib.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socketlib.socket(socketlib.AF_UNIX)
            upstream.connect(self._target)
            with self._lock:
                self._open += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socketlib.socket, sink: socketlib.socket) -> None:
        with contextlib.suppress(OSError):
            while block := source.recv(1 << 16):
                sink.sendall(block)
            sink.shutdown(socketlib.SHUT_WR)  # a half-close goes through

    def cut(self) -> None:
        self._listener.close()
        with self._lock:
            for conn in self._open:
                with contextlib.suppress(OSError):
                    conn.shutdown(socketlib.SHUT_RDWR)
                conn.close()

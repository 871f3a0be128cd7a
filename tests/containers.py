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
# conmon 2.1 (Debian 12) writes its marker of an out-of-memory kill, `oom`, into its
# working directory, which it inherits from podman; podman 4.3 looks for it in the
# container's bundle directory, so a container the kernel killed for memory was never
# `OOMKilled` (and the marker landed in whatever directory the service ran in). Run in
# the bundle directory (`-b`), conmon writes it where podman reads it.
CONMON_IN_BUNDLE = """\
#!/bin/sh
previous=
for arg in "$@"; do
  if [ "$previous" = "-b" ] || [ "$previous" = "--bundle" ]; then cd "$arg" || exit 1; break; fi
  previous=$arg
done
exec {conmon} "$@"
"""


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
        conf = PODMAN_CONF
        conmon = shutil.which("conmon")
        if conmon:
            wrapper = self.root / "conmon-in-bundle"
            executable(wrapper, CONMON_IN_BUNDLE.format(conmon=conmon))
            conf += f"conmon_path = [{json.dumps(str(wrapper))}]\n"
        (self.root / "containers.conf").write_text(conf)
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

    def limit_memory(self, container: str, limit: int) -> None:
        """Lower the memory limit of a running container to `limit` bytes, in its cgroup
        (dstream sets none: the test plays the operator who does). Fails the test with
        the reason when this machine's cgroups cannot be written (not root, cgroup v2
        without the memory controller delegated)."""
        pid = self.podman("inspect", "--format", "{{.State.Pid}}", container).stdout.strip()
        try:
            lines = Path(f"/proc/{int(pid)}/cgroup").read_text().splitlines()
            v1 = [line.split(":", 2)[2] for line in lines if line.split(":")[1] == "memory"]
            if v1:
                base = Path("/sys/fs/cgroup/memory" + v1[0])
                memory, swap = "memory.limit_in_bytes", "memory.memsw.limit_in_bytes"
                no_swap = limit
            else:
                [unified] = [line.split(":", 2)[2] for line in lines if line.startswith("0::")]
                base = Path("/sys/fs/cgroup" + unified)
                memory, swap, no_swap = "memory.max", "memory.swap.max", 0
            (base / memory).write_text(str(limit))  # first: v1's memory + swap may not go below it
            if (base / swap).exists():  # no such file without swap accounting
                (base / swap).write_text(str(no_swap))
        except (OSError, ValueError) as exc:
            require_service(f"cannot set the memory limit of container {container}: {exc}")

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

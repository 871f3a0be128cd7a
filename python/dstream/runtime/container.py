"""provider_image: a provider run as a container through the Docker Engine API.

`docker run -i --rm` semantics with the docker SDK (DOCKER_HOST honoured; podman's
Docker-compatible service works too). The engine gives one multiplexed socket for a
non-TTY container's stdin, stdout and stderr; two small threads bridge it to ordinary
pipes so the runtime (and the Rust pump) sees real file descriptors, exactly like a
local process:

    stdin pipe  --(feeder thread)-->  socket  --> container stdin; pipe EOF = half-close
    socket --(demux thread)--> stdout pipe / stderr pipe; socket EOF closes both

Back-pressure is preserved: a slow reader of stdout blocks the demux thread, which
stops reading the socket, which stops the container's writes.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import secrets
import signal
import socket
import struct
import subprocess
import threading
from typing import IO, Any, Callable, Optional, TypeVar, Union

from dstream import logs
from dstream.errors import DstreamError, EngineLost, ProviderError
from dstream.extras import missing_package
from dstream.protocol.frames import DEFAULT_START_TIMEOUT
from dstream.runtime.attach import ENGINE_FRAME_MAX, engine_error
from dstream.runtime.container_stdin import holds, stdin_pipe
from dstream.runtime.pipes import STOP_POLL, stopped_starting
from dstream.state.base import ended_here, named_process, this_process_since

PULL_POLICIES = ("missing", "always", "never")
# Seconds for the engine's first answer (bounded by the task's start_timeout): a hung
# engine fails the start now, not after the docker SDK's 60 s.
PING_TIMEOUT = 5.0
T = TypeVar("T")
# Seconds stdin_broke waits for the thread that feeds the container's stdin to end.
STDIN_JOIN = 2.0
_HEADER = struct.Struct(">BxxxL")  # stream type, 3 pad bytes, big-endian length
# The code of a container whose exit the engine never told: `docker run`'s own for an
# error of the engine (125), not a signal the container did not get. EngineLost says why.
ENGINE_LOST_CODE = 125
DockerClient = Any  # Any: the docker SDK has no type information
# Labels of the containers dstream starts: the task, and the dstream that owns it
# ("host:pid:ticks@boot/pidns", state/base.py this_process_since), so that the task's next
# run can remove what a dead one left, even when its pid is in use again.
PROVIDER_LABEL = "io.dstream.provider"
TASK_LABEL = "io.dstream.task"
ROLE_LABEL = "io.dstream.role"
OWNER_LABEL = "io.dstream.owner"
_live: dict[str, ContainerProcess] = {}
_live_lock = threading.Lock()


def engine_address() -> str:
    """Where the Docker API is looked for, as a person would set it."""
    host = os.environ.get("DOCKER_HOST")
    return f"DOCKER_HOST={host}" if host else "the default socket /var/run/docker.sock"


def _engine_hint() -> str:
    where = engine_address()
    return (
        f"dstream looked for a Docker API at {where}; start Docker, or podman's "
        "service (`podman system service --time=0 unix:///path/podman.sock`) and set "
        "DOCKER_HOST=unix:///path/podman.sock"
    )


def engine(timeout: float = DEFAULT_START_TIMEOUT) -> DockerClient:
    """A docker SDK client that has answered a ping within PING_TIMEOUT (at most
    `timeout`); each of its calls then waits at most `timeout` seconds (a pull, its
    stream, as long as it takes)."""
    try:
        import docker
        from requests.exceptions import Timeout
    except ImportError as exc:
        raise missing_package(exc) or exc from None
    first = min(PING_TIMEOUT, timeout)
    try:
        client = docker.from_env(timeout=first)
        client.ping()
    except Exception as exc:  # the SDK raises DockerException, requests and OS errors
        if not _timed_out(exc, (Timeout, TimeoutError)):
            raise DstreamError(
                f"no container engine reachable: {exc}", hint=_engine_hint()
            ) from None
        raise DstreamError(
            f"the container engine ({engine_address()}) did not answer within {first:g} s",
            hint="check that the engine (Docker, or podman's service) runs and is not hung; "
            + _engine_hint(),
        ) from None
    client.api.timeout = timeout
    return client


def _timed_out(exc: BaseException, kinds: tuple[type[BaseException], ...]) -> bool:
    """Whether `exc` or what it was raised from is a timeout: the SDK wraps the one of
    its first request (the API version) in a DockerException."""
    seen: Optional[BaseException] = exc
    while seen is not None:
        if isinstance(seen, kinds):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def unless_stopped(start: Callable[[], T], stopping: Callable[[], bool], label: str) -> T:
    """`start()` (calls to the container engine, which may not answer) in a thread of
    its own, given up as soon as `stopping()` says the run was asked to stop: a stop
    does not wait for the engine. What it still starts is removed at dstream's exit."""
    box: list[Union[T, BaseException]] = []

    def work() -> None:
        try:
            box.append(start())
        except BaseException as exc:  # handed to the caller's thread
            box.append(exc)

    thread = threading.Thread(target=work, name=f"{label}-start", daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(STOP_POLL)
        if thread.is_alive() and stopping():
            raise stopped_starting(label, f"waiting on the container engine, {engine_address()}")
    [result] = box
    if isinstance(result, BaseException):
        raise result
    return result


def ensure_image(
    image: str, *, pull: str = "missing", client: Optional[DockerClient] = None
) -> dict[str, object]:
    """Make `image` present in the engine according to the pull policy."""
    if pull not in PULL_POLICIES:
        raise DstreamError(
            f"unknown pull policy {pull!r}", hint=f"use one of {', '.join(PULL_POLICIES)}"
        )
    client = client or engine()  # first: it says so when the docker extra is missing
    from docker.errors import APIError, ImageNotFound
    from requests.exceptions import ConnectionError as NoConnection

    present = None
    if pull != "always":
        try:
            present = client.images.get(image)
        except ImageNotFound:
            present = None
        except APIError as exc:
            raise _refused(image, exc) from None
        except (NoConnection, OSError) as exc:  # no answer: the engine went away
            raise DstreamError(
                f"cannot inspect image {image!r}: the connection to the container engine "
                f"({engine_address()}) failed: {exc}",
                hint=_engine_hint(),
            ) from None
    if present is None and pull == "never":
        raise DstreamError(
            f"image {image} is not present in the container engine and the pull policy is 'never'",
            hint=f"pull or build it first (`docker pull {image}`)",
        )
    pulled = False
    if present is None:
        _pull(client, image)
        try:
            present = client.images.get(image)
        except Exception as exc:
            raise DstreamError(
                f"cannot pull image {image}: the engine pulled it, then had no such image ({exc})",
                hint="check the image name: a tag the engine writes differently (podman's "
                "short names) is found under its full name",
            ) from None
        pulled = True
    return {"image": image, "id": present.id, "pulled": pulled}


def _refused(image: str, exc: Any) -> DstreamError:
    """The engine answered a look-up of `image` with an error (an APIError): it runs,
    and its reason (podman answers 500 for a name it cannot parse) is about the name,
    not about reaching it. A connection that fails raises no APIError."""
    from dstream.config.redact import redact_text
    from dstream.config.reference_syntax import REFERENCE_HINT

    why = redact_text(str(exc.explanation or exc))
    return DstreamError(
        f"cannot inspect image {image!r}: the container engine answered: {why}",
        hint=f"check the image name (provider_image): {REFERENCE_HINT}",
    )


def local_image_id(image: str) -> Optional[str]:
    """The ID of the image the engine holds under `image` now, without pulling it; None
    when it holds none, or no engine answers within PING_TIMEOUT (a command that only
    wants to know what a provider is does not fail for it)."""
    try:
        return str(engine(PING_TIMEOUT).images.get(image).id)
    except Exception:  # no engine or docker SDK (DstreamError), ImageNotFound, APIError...
        return None


def _auth_config(image: str) -> Optional[dict[str, str]]:
    """The registry login for `image`, found as provider_ref's is (oci/auth.py:
    DSTREAM_REGISTRY_USERNAME/PASSWORD/HOST, GITHUB_TOKEN for ghcr.io, the Docker and
    podman auth files); None: the docker SDK's own lookup (its config.json)."""
    from dstream.oci.auth import find_credentials
    from dstream.oci.reference import BadReference, parse_reference

    try:
        ref = parse_reference(image)
    except BadReference:
        return None  # the engine says what is wrong with it
    found = find_credentials(ref.registry, ref.repository)
    return None if found is None else {"username": found.username, "password": found.password}


def _plain_http_hint(image: str) -> str:
    """For a registry dstream itself speaks plain HTTP to (loopback, or listed in
    DSTREAM_INSECURE_REGISTRIES: oci/reference.py), what the engine needs to do so too:
    it pulls over HTTPS unless its own settings list the registry ("http: server gave
    HTTP response to HTTPS client"). Empty for any other registry."""
    from dstream.oci.reference import BadReference, parse_reference, uses_plain_http

    try:
        registry = parse_reference(image).registry
    except BadReference:
        return ""
    if not uses_plain_http(registry):
        return ""
    return (
        f"dstream speaks plain HTTP to {registry} by itself (provider_ref), the container "
        "engine only to a registry its settings list as insecure: for podman, a "
        f'[[registry]] with location = "{registry}" and insecure = true in '
        'registries.conf; for Docker, "insecure-registries" in daemon.json (then '
        "restart it); otherwise "
    )


def _pull(client: DockerClient, image: str) -> None:
    """Pull `image` through the low-level stream, whose `error` event is the engine's
    reason (images.pull() drops it, and the lookup after says "No such image")."""
    from docker.utils import parse_repository_tag

    from dstream.config.redact import redact_text

    hint = _plain_http_hint(image) + (
        "check the image name, the engine's network access and the registry login "
        "(DSTREAM_REGISTRY_USERNAME/PASSWORD, or the Docker/podman auth file, as for "
        "provider_ref: docs/oci.md)"
    )
    repository, tag = parse_repository_tag(image)
    try:
        events = client.api.pull(
            repository, tag=tag, stream=True, decode=True, auth_config=_auth_config(image)
        )
        for event in events:
            if isinstance(event, dict) and event.get("error"):
                why = event.get("errorDetail", {}).get("message") or event["error"]
                raise DstreamError(f"cannot pull image {image}: {redact_text(str(why))}", hint=hint)
    except DstreamError:
        raise
    except Exception as exc:  # the SDK raises APIError, requests and OS errors
        raise DstreamError(
            f"cannot pull image {image}: {redact_text(str(exc))}", hint=hint
        ) from None


class ContainerProcess:
    """A running container that quacks like subprocess.Popen for the runtime."""

    def __init__(
        self, client: DockerClient, container_id: str, name: str, sock: socket.socket
    ) -> None:
        self._client = client
        self.container_id = container_id
        self.name = name
        self.args = [name]
        self._sock = sock
        self.returncode: Optional[int] = None
        self._exited = threading.Event()
        self._removed = False
        # Why the engine never said how the container ended (None: it did).
        self.lost: Optional[str] = None
        # The engine killed it for running out of memory (its inspect's State.OOMKilled).
        self.out_of_memory = False
        # The ID of the image it was created from ("sha256:..."), whatever its tag now
        # names: its handshake is kept by it (runtime/description.py). None: not known.
        self.image_id: Optional[str] = None
        # Its stdin broke: bytes for it could not be sent (it was gone), it had closed
        # it before its end (runtime/container_stdin.py), or the engine wrote into the
        # attach stream that it ended it (runtime/attach.py).
        self._stdin_cut = False
        self._stdin_pipe: Optional[str] = None  # "pipe:[N]", when this host can see it

        stdin_r, stdin_w = os.pipe()
        stdout_r, stdout_w = os.pipe()
        stderr_r, stderr_w = os.pipe()
        self.stdin: IO[bytes] = os.fdopen(stdin_w, "wb")
        self.stdout: IO[bytes] = os.fdopen(stdout_r, "rb")
        self.stderr: IO[bytes] = os.fdopen(stderr_r, "rb")
        self._feeder = threading.Thread(
            target=self._feed, args=(stdin_r,), name=f"{name}-stdin", daemon=True
        )
        self._demux = threading.Thread(
            target=self._demultiplex, args=(stdout_w, stderr_w), name=f"{name}-out", daemon=True
        )
        self._waiter = threading.Thread(target=self._wait_exit, name=f"{name}-wait", daemon=True)
        self.pid: Union[int, str] = container_id[:12]

    def _started(self) -> None:
        with contextlib.suppress(Exception):
            found = self._client.api.inspect_container(self.container_id)
            image = found.get("Image")
            self.image_id = image if isinstance(image, str) else None
            pid = found["State"].get("Pid")
            if pid:
                self.pid = int(pid)
                self._stdin_pipe = stdin_pipe(self.pid, self.container_id)
        self._feeder.start()
        self._demux.start()
        self._waiter.start()

    # -- bridging threads --------------------------------------------------------------
    def _feed(self, stdin_r: int) -> None:
        try:
            while True:
                block = os.read(stdin_r, 1 << 16)
                if not block:
                    self._stdin_cut = self._stdin_cut or not self._holds_stdin()
                    break
                if self._exited.is_set():  # it exited before it could read these
                    self._stdin_cut = True
                self._sock.sendall(block)
        except OSError:
            # The container is gone: what it was still to be sent it never read.
            self._stdin_cut = True
        finally:
            os.close(stdin_r)
            # EOF of the provider's stdin: half-close so the container sees it.
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_WR)

    def _holds_stdin(self) -> bool:
        """At the end of its stream, before its EOF: whether the container still holds
        its stdin open (True when this host cannot tell)."""
        if self._stdin_pipe is None or not isinstance(self.pid, int):
            return True
        return holds(self.pid, self._stdin_pipe) is not False

    def _recv_exact(self, size: int) -> Optional[bytes]:
        chunks = []
        while size:
            block = self._sock.recv(min(size, 1 << 16))
            if not block:
                return None
            chunks.append(block)
            size -= len(block)
        return b"".join(chunks)

    def _demultiplex(self, stdout_w: int, stderr_w: int) -> None:
        targets = {1: stdout_w, 2: stderr_w}
        try:
            while True:
                header = self._recv_exact(_HEADER.size)
                if header is None:
                    break
                stream, size = _HEADER.unpack(header)
                if stream == 2 and size <= ENGINE_FRAME_MAX:
                    # Whole, to tell the engine's error from the container's stderr.
                    frame = self._recv_exact(size)
                    if frame is None:
                        return
                    if not self._engine_wrote(frame):
                        self._pass(targets, stream, frame)
                    continue
                remaining = size
                while remaining:
                    block = self._sock.recv(min(remaining, 1 << 16))
                    if not block:
                        return
                    remaining -= len(block)
                    self._pass(targets, stream, block)
        except OSError:
            pass
        finally:
            for fd in (stdout_w, stderr_w):
                with contextlib.suppress(OSError):
                    os.close(fd)

    @staticmethod
    def _pass(targets: dict[int, int], stream: int, block: bytes) -> None:
        """`block` of the container's `stream` to its pipe; a reader gone drops it (and
        the rest of that stream: the socket is still drained)."""
        fd = targets.get(stream)
        view = memoryview(block)
        while fd is not None and view:
            try:
                written = os.write(fd, view)
            except BrokenPipeError:
                targets.pop(stream)
                return
            view = view[written:]

    def _engine_wrote(self, frame: bytes) -> bool:
        """Whether the engine wrote stderr `frame` itself (runtime/attach.py): then it
        is not the provider's, and it is logged as the engine's."""
        said = engine_error(frame)
        if said is None:
            return False
        self._stdin_cut = True
        logs.log.debug("the container engine ended the attach stream of %s: %s", self.name, said)
        return True

    def _wait_exit(self) -> None:
        from docker.errors import APIError

        try:
            result = self._client.api.wait(self.container_id)
            self.returncode = int(result["StatusCode"])
            if self.returncode != 0:  # the wait's answer does not say: the inspect does
                self.out_of_memory = self._oom_killed()
        except APIError as exc:  # it answered, with an error
            self._lose(f"the container engine could not say how it ended ({exc.explanation})")
        except Exception:  # the SDK raises requests' and OS errors on a broken connection
            self._lose(f"lost the connection to the container engine ({engine_address()})")
        self._exited.set()
        # Remove only after the attach stream is drained: removal could cut its tail.
        self._demux.join(timeout=10)
        self._remove()

    def _oom_killed(self) -> bool:
        """Whether the engine killed the container for memory; False when it cannot say
        (the exit code then stands alone, as it did)."""
        try:
            state = self._client.api.inspect_container(self.container_id)["State"]
        except Exception:  # the SDK raises APIError, requests' and OS errors
            return False
        return state.get("OOMKilled") is True

    def _lose(self, what: str) -> None:
        self.lost = f"{what}: the container may still be running: {self.name}"
        self.returncode = ENGINE_LOST_CODE

    def lost_error(self, label: str, stderr_tail: list[str]) -> Optional[EngineLost]:
        """The provider's error when the engine never said how its container ended."""
        if self.lost is None:
            return None
        return EngineLost(
            f"{label} {self.lost}",
            provider=label,
            stderr_tail=stderr_tail,
            hint=f"check that the container engine still runs; `docker rm -f {self.name}` "
            "(or podman's) removes the container, as the task's next run does",
        )

    def _remove(self) -> None:
        if self._removed:
            return
        self._removed = True
        with contextlib.suppress(Exception):
            self._client.api.remove_container(self.container_id, force=True)
        with _live_lock:
            _live.pop(self.container_id, None)

    def stdin_broke(self) -> bool:
        """Whether the container's stdin broke before the end of its stream: it closed
        it (runtime/container_stdin.py), the engine said so (runtime/attach.py), or
        bytes for it could not be sent. The pump's broken pipe says it of a local
        process; the engine's socket takes what dstream writes after the container
        closed its stdin. Asked once it exited and its stdin was closed: the feeder
        thread is ending, and is given a moment to say what it saw."""
        self._feeder.join(timeout=STDIN_JOIN)
        return self._stdin_cut

    # -- Popen interface ---------------------------------------------------------------
    def poll(self) -> Optional[int]:
        return self.returncode if self._exited.is_set() else None

    def wait(self, timeout: Optional[float] = None) -> int:
        if not self._exited.wait(timeout):
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        # The waiter hands over the last output bytes and removes the container
        # before it ends: after wait() the container is gone, as with `run --rm`.
        if threading.current_thread() is not self._waiter:
            self._waiter.join(timeout=15)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self._exited.is_set():
            return
        with contextlib.suppress(Exception):
            self._client.api.kill(self.container_id, signal=int(sig))

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def stop_and_remove(self) -> None:
        """Shutdown path: kill if still running, then remove."""
        if not self._exited.is_set():
            self.kill()
            self._exited.wait(10)
        self._remove()
        with contextlib.suppress(OSError):
            self._sock.close()

    def __repr__(self) -> str:
        return f"<ContainerProcess {self.name} {self.container_id[:12]}>"


def _cleanup_at_exit() -> None:
    with _live_lock:
        procs = list(_live.values())
    for proc in procs:
        proc.stop_and_remove()


atexit.register(_cleanup_at_exit)


def container_name(name: str) -> str:
    """`name` as an engine takes it ([a-zA-Z0-9][a-zA-Z0-9_.-]*): every other character
    (a task's space, a non-ASCII letter) an underscore. Not unique: start_container
    adds a random suffix, and the task is in the container's labels, verbatim."""
    safe = re.sub(r"[^a-zA-Z0-9_.-]", "_", name)
    return safe if safe[:1].isascii() and safe[:1].isalnum() else f"x{safe}"


def _owner_ended(owner: str) -> bool:
    """Whether the dstream `owner` ("host:pid:ticks@boot/pidns", or an older dstream's
    "host:pid:ticks@boot" or "host:pid") names is known to have ended (state/base.py
    ended_here): it ran on this host and no process has its pid in its PID namespace,
    or the one that has it started at another time. Another host's may be live; so may
    one of another namespace that this dstream does not see, or of an older label."""
    return ended_here(named_process(owner))


def remove_stale(client: DockerClient, task: str) -> None:
    """Stop and remove the containers of `task` that a dstream which ended left (killed
    with SIGKILL, it ran no shutdown hook): the input's may still run. Called by a run
    that holds the task's lock, so the containers of a live run are never touched;
    those of a dstream still alive, or of another host, are left alone."""
    try:
        found = client.api.containers(all=True, filters={"label": TASK_LABEL})
    except Exception as exc:
        raise DstreamError(
            f"cannot list the containers of task {task!r}: {exc}", hint=_engine_hint()
        ) from None
    for container in found:
        labels = container.get("Labels") or {}
        if labels.get(TASK_LABEL) != task or not _owner_ended(labels.get(OWNER_LABEL, "")):
            continue
        name = (container.get("Names") or [container["Id"][:12]])[0].lstrip("/")
        try:
            client.api.remove_container(container["Id"], force=True)
        except Exception as exc:  # gone meanwhile, or the engine refused: say so, go on
            logs.log.warning("cannot remove container %s: %s", name, exc, task=task)
            continue
        logs.log.warning(
            "removed container %s, left by a dstream that ended (%s)",
            name, labels.get(OWNER_LABEL), task=task,
        )  # fmt: skip


def start_container(
    image: str,
    *,
    env: dict[str, str],
    name: str,
    pull: str = "missing",
    network: Optional[str] = None,
    task: str = "",
    role: str = "",
    timeout: float = DEFAULT_START_TIMEOUT,
    owned: bool = False,
) -> ContainerProcess:
    """Start `image` like `docker run -i --rm --name NAME -e ... IMAGE`, attached.
    Not AutoRemove: podman's wait then answers 0 ("container has already been
    removed") for a container that exited 3 before the wait came. The waiter removes
    it, shutdown too; after a SIGKILL of dstream, the task's next run (remove_stale,
    when `owned`: the task's lock is held). Each engine call waits `timeout` at most."""
    client = engine(timeout)  # first: it says so when the docker extra is missing
    if owned:
        remove_stale(client, task)
    from docker.errors import APIError

    ensure_image(image, pull=pull, client=client)
    api = client.api
    # A unique suffix: a second dstream, or a leftover of a killed one, must not clash.
    unique = f"{container_name(name)}-{secrets.token_hex(3)}"
    host_config = api.create_host_config(network_mode=network) if network else None
    try:
        created = api.create_container(
            image,
            name=unique,
            stdin_open=True,  # with detach=False the SDK also sets StdinOnce, as `run -i`
            tty=False,
            environment=dict(env),
            host_config=host_config,
            labels={
                PROVIDER_LABEL: "1",
                TASK_LABEL: task,
                ROLE_LABEL: role,
                OWNER_LABEL: this_process_since(),
            },
        )
    except APIError as exc:
        raise ProviderError(
            f"cannot create a container from {image}: {exc.explanation or exc}",
            provider=image,
            hint="check that the image has an entrypoint or command that runs the provider",
        ) from None
    container_id = str(created["Id"])
    try:
        raw = api.attach_socket(
            container_id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
        )
        sock = getattr(raw, "_sock", raw)
        sock.settimeout(None)  # the SDK's request timeout must not end a quiet stream
        proc = ContainerProcess(client, container_id, unique, sock)
        with _live_lock:
            _live[container_id] = proc
        # Attached before start: not a byte of early output is lost.
        api.start(container_id)
    except Exception as exc:
        with contextlib.suppress(Exception):
            api.remove_container(container_id, force=True)
        with _live_lock:
            _live.pop(container_id, None)
        raise ProviderError(
            f"cannot start a container from {image}: {exc}",
            provider=image,
            hint="check the image and the engine's logs",
        ) from None
    proc._started()
    return proc

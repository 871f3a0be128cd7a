"""A real RabbitMQ (Debian rabbitmq-server) on a free 127.0.0.1 port, its node state in
a fresh temporary directory, stopped by PID.

As root the broker runs as user `rabbitmq` (its Erlang cookie lives in that user's
home); as anyone else it runs as the current user with a private home. epmd, the
Erlang port mapper the node registers with, is a shared system daemon and is left
running.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

from tests.services import ServiceUnavailable, free_port, running, service_user, stop_pid
from tests.workspace import Workspace

SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
CTL = "/usr/lib/rabbitmq/bin/rabbitmqctl"
START_TIMEOUT = 90.0


@dataclass
class RabbitServer:
    directory: str
    port: int
    process: Optional[subprocess.Popen[bytes]] = None
    extra_env: dict[str, str] = field(default_factory=dict)
    management_port: Optional[int] = None  # with the management plugin: its HTTP API
    run_as: list[str] = field(default_factory=list)  # runuser's argv as root, else []
    home: str = ""  # where the Erlang cookie rabbitmqctl needs is

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"

    @property
    def node(self) -> str:
        # Unique, so this node does not clash in epmd with another broker on the machine.
        return f"dstream{self.port}@localhost"

    def ctl(self, *args: str) -> str:
        """`rabbitmqctl ARGS` against this broker (users, permissions, alarms, limits):
        its stdout; a failure raises."""
        done = subprocess.run(
            [*self.run_as, CTL, "-n", self.node, *args],
            env={**os.environ, "HOME": self.home},
            capture_output=True,
            check=False,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr.decode(errors="replace")
        return done.stdout.decode(errors="replace")

    def log_tail(self) -> str:
        chunks = []
        for path in [
            os.path.join(self.directory, "stdout"),
            *glob.glob(f"{self.directory}/log/*.log"),
        ]:
            with contextlib.suppress(OSError), open(path, errors="replace") as handle:
                chunks.append(handle.read()[-1500:])
        return "\n".join(chunks)

    def stop(self) -> None:
        if self.process is not None:
            # The server's process group: the wrapper, the Erlang VM and its helpers.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                stop_pid(self.process.pid, signal.SIGKILL)
        shutil.rmtree(self.directory, ignore_errors=True)

    # -- helpers for tests -----------------------------------------------------------------
    def connection(self) -> Any:
        import pika

        return pika.BlockingConnection(pika.URLParameters(self.url))

    def queue_count(self, queue: str) -> Optional[int]:
        """Messages in `queue`, None if it does not exist."""
        import pika

        with contextlib.closing(self.connection()) as conn:
            channel = conn.channel()
            try:
                return int(channel.queue_declare(queue, passive=True).method.message_count)
            except pika.exceptions.ChannelClosedByBroker as exc:
                if exc.reply_code == 404:
                    return None
                raise

    def drain(self, queue: str) -> list[tuple[Any, bytes]]:
        """Every message now in `queue` as (properties, body), removed from it."""
        out: list[tuple[Any, bytes]] = []
        with contextlib.closing(self.connection()) as conn:
            channel = conn.channel()
            while True:
                method, props, body = channel.basic_get(queue, auto_ack=True)
                if method is None:
                    return out
                out.append((props, body))

    def delete_queues(self, *queues: str) -> None:
        with contextlib.closing(self.connection()) as conn:
            channel = conn.channel()
            for queue in queues:
                channel.queue_delete(queue)


def _wait_for_port(server: RabbitServer, port: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    assert server.process is not None
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise ServiceUnavailable(
                f"rabbitmq-server exited with {server.process.returncode}:\n{server.log_tail()}"
            )
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", port), timeout=1),
        ):
            return
        time.sleep(0.25)
    raise ServiceUnavailable(f"rabbitmq-server did not listen on {port} within {START_TIMEOUT:g} s")


def start_rabbitmq(management: bool = False) -> RabbitServer:
    if not os.path.exists(SERVER):
        raise ServiceUnavailable("RabbitMQ is not installed; apt-get install rabbitmq-server")
    directory = tempfile.mkdtemp(prefix="dstream-rabbit-")
    os.chmod(directory, 0o755)
    for sub in ("mnesia", "log"):
        os.mkdir(os.path.join(directory, sub))
    with open(os.path.join(directory, "enabled_plugins"), "w") as handle:
        handle.write("[rabbitmq_management].\n" if management else "[].\n")
    management_port = free_port() if management else None
    if management_port is not None:
        with open(os.path.join(directory, "rabbitmq.conf"), "w") as handle:
            handle.write(f"management.tcp.port = {management_port}\n")
            handle.write("management.tcp.ip = 127.0.0.1\n")
    prefix: list[str] = []
    home = directory
    user = service_user("rabbitmq")
    if user is not None:
        for root, dirs, files in os.walk(directory):
            for name in [root] + [os.path.join(root, n) for n in dirs + files]:
                os.chown(name, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "rabbitmq", "--"]
        home = user.pw_dir  # where the Erlang cookie is
    server = RabbitServer(
        directory, free_port(), management_port=management_port, run_as=prefix, home=home
    )
    env = {
        **os.environ,
        "HOME": home,
        "RABBITMQ_MNESIA_BASE": os.path.join(directory, "mnesia"),
        "RABBITMQ_LOG_BASE": os.path.join(directory, "log"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": os.path.join(directory, "enabled_plugins"),
        "RABBITMQ_NODENAME": server.node,
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(server.port),
        "RABBITMQ_DIST_PORT": str(free_port()),
    }
    if management_port is not None:
        env["RABBITMQ_CONFIG_FILE"] = os.path.join(directory, "rabbitmq.conf")
    stdout = open(os.path.join(directory, "stdout"), "wb")  # noqa: SIM115 - the child keeps it
    try:
        server.process = subprocess.Popen(
            [*prefix, SERVER],
            cwd=directory,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        stdout.close()
    try:
        _wait_for_port(server, server.port)
        if management_port is not None:  # the plugin listens a little after AMQP does
            _wait_for_port(server, management_port)
    except BaseException:
        server.stop()
        raise
    return server


def rabbitmq(management: bool = False) -> contextlib.AbstractContextManager[RabbitServer]:
    """`with rabbitmq() as broker:` — a running broker; skip (fail in CI) if none.
    `management`: with the management plugin (its HTTP API on `management_port`)."""
    return running("RabbitMQ", lambda: start_rabbitmq(management))


# -- a task into the broker ----------------------------------------------------------------
TABLES = ["dbo.Orders", "dbo.Customers", "sales.Order Lines"]
# The output setting for a broker without the management plugin: no API to look for
# leftover queues with.
NO_LEFTOVERS = 'management_url = "off"'
QUEUES = ["dbo.Orders_cdc_events", "dbo.Customers_cdc_events", "sales.Order_Lines_cdc_events"]


def configure(
    ws: Workspace,
    url: str,
    *,
    count: int = 0,
    tables: list[str] = TABLES,
    pattern: str = "{TableName}_cdc_events",
    extra: str = "",
    interval: int = 0,
    output_env: Optional[Mapping[str, str]] = None,
) -> None:
    """Task "cdc": `count` changes (0: no end) of `tables` into the broker at `url`, each
    table's queue named by `pattern`; `extra`: more output settings (HCL lines)."""
    ws.counter_task(
        "cdc",
        "dstream-rabbitmq",
        f'url = "{url}"\nqueue_pattern = "{pattern}"\n{extra}',
        count=count,
        tables=tables,
        checkpoint_every=100,
        interval=interval,
        output_env=output_env,
    )


def queues_of(prefix: str) -> list[str]:
    return [prefix + q for q in QUEUES]

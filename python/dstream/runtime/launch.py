"""How a provider process is set up: what it runs between fork and exec, and its
environment.

The environment a provider starts with (docs/protocol.md section 1; docs/security.md,
"The provider environment"): an allowlist of dstream's own environment, then the names
the provider's `inherit_env` lists, then its `env` map, then the protocol variables.
Never anything else: dstream's variables (DSTREAM_VAR_*), the registry password or
GITHUB_TOKEN stay in dstream.
"""

from __future__ import annotations

import os
import signal
import sys

from dstream import logs
from dstream.config.model import ProviderSpec, TaskSpec
from dstream.protocol import frames

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Optional

_prctl: Optional[Callable[..., int]] = None


def child_setup(parent_pid: int) -> Optional[Callable[[], None]]:
    """What a provider runs between fork and exec where setpriv cannot set its
    parent-death signal (runtime/spawn.py). prctl is looked up here, in dstream:
    importing ctypes in the child instead costs 4-10 ms per provider, and Popen waits
    for the child's exec before it returns."""
    global _prctl
    if not sys.platform.startswith("linux"):
        return None
    if _prctl is None:
        import ctypes

        _prctl = ctypes.CDLL(None, use_errno=True).prctl
    prctl = _prctl

    def setup() -> None:
        pr_set_pdeathsig = 1
        prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:  # dstream died before prctl took effect
            os._exit(1)

    return setup


PROXY_ENV = frozenset(
    name
    for base in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY")
    for name in (base, base.lower())
)
# What describes this host (with LC_*): a container's image has its own.
HOST_ENV = frozenset({"PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TMPDIR"})
LOCALE_PREFIX = "LC_"
INHERITED_ENV = HOST_ENV | PROXY_ENV | {"TZ"}


def provider_env(
    spec: ProviderSpec, task: TaskSpec, *, container: bool = False, epoch: Optional[int] = None
) -> dict[str, str]:
    def inherited(name: str) -> bool:
        if container:
            return name in INHERITED_ENV and name not in HOST_ENV
        return name in INHERITED_ENV or name.startswith(LOCALE_PREFIX)

    env = {name: value for name, value in os.environ.items() if inherited(name)}
    env.update({name: os.environ[name] for name in spec.inherit_env if name in os.environ})
    env.update(spec.env)
    env[frames.ENV_PROTOCOL] = str(frames.PROTOCOL_VERSION)
    env[frames.ENV_ROLE] = spec.role
    env[frames.ENV_TASK] = task.name
    level = logs.level_name() or os.environ.get(frames.ENV_LOG_LEVEL)
    if level:
        env[frames.ENV_LOG_LEVEL] = level
    if epoch is not None:
        env[frames.ENV_EPOCH] = str(epoch)
    return env

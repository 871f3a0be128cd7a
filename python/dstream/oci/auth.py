"""Registry credentials and the WWW-Authenticate challenge.

Credentials are looked up, first match wins:
1. DSTREAM_REGISTRY_USERNAME / DSTREAM_REGISTRY_PASSWORD (limited to the registries
   listed in DSTREAM_REGISTRY_HOST, comma-separated, when that is set);
2. GITHUB_TOKEN for ghcr.io (what the original DStream used);
3. the Docker config file ($DOCKER_CONFIG/config.json or ~/.docker/config.json):
   `credHelpers`, then `auths`, then `credsStore`; and podman's auth.json
   ($REGISTRY_AUTH_FILE or $XDG_RUNTIME_DIR/containers/auth.json).

Secrets never reach a message: errors name the registry and where the credentials came
from, never their value; and every credential found is registered with the redactor,
so that no output shows it either (a registry's error body may echo it back).
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Optional

from dstream.config.redact import remember
from dstream.oci.errors import OciError
from dstream.oci.reference import DOCKER_HUB, DOCKER_HUB_API
from dstream.records import record


@record(frozen=True)
class Credentials:
    username: str
    password: str  # or an identity token (username "<token>")
    source: str  # "environment", "docker config ~/.docker/config.json", ...

    def __repr__(self) -> str:  # keep the secret out of tracebacks and logs
        return f"Credentials(username={self.username!r}, source={self.source!r})"

    def basic_header(self) -> str:
        return "Basic " + self._basic_value()

    def _basic_value(self) -> str:
        return base64.b64encode(f"{self.username}:{self.password}".encode()).decode("ascii")

    def secrets(self) -> list[str]:
        """What the redactor masks: the password (or token), `user:password`, and the
        base64 the Authorization header carries (a short password's base64 would not
        be found inside it)."""
        return [self.password, f"{self.username}:{self.password}", self._basic_value()]


def _config_keys(registry: str) -> list[str]:
    """The keys a Docker config may use for this registry."""
    if registry in (DOCKER_HUB, DOCKER_HUB_API, "index.docker.io"):
        return ["https://index.docker.io/v1/", "index.docker.io", "docker.io", DOCKER_HUB_API]
    return [registry, f"https://{registry}", f"http://{registry}", f"https://{registry}/v1/"]


def _docker_config_files() -> list[Path]:
    files = []
    docker_dir = os.environ.get("DOCKER_CONFIG")
    files.append(
        Path(docker_dir) / "config.json" if docker_dir else Path.home() / ".docker/config.json"
    )
    if os.environ.get("REGISTRY_AUTH_FILE"):
        files.append(Path(os.environ["REGISTRY_AUTH_FILE"]))
    elif os.environ.get("XDG_RUNTIME_DIR"):
        files.append(Path(os.environ["XDG_RUNTIME_DIR"]) / "containers/auth.json")
    return files


def _from_helper(helper: str, server: str, source: str) -> Optional[Credentials]:
    program = f"docker-credential-{helper}"
    try:
        done = subprocess.run(
            [program, "get"], input=server.encode(), capture_output=True, timeout=30
        )
    except FileNotFoundError:
        raise OciError(
            f"the Docker config names credential helper {helper!r} but {program} is not on PATH",
            hint=f"install {program} or remove it from {source}",
        ) from None
    except subprocess.TimeoutExpired:
        raise OciError(
            f"credential helper {program} did not answer within 30 s",
            hint=f"run `echo REGISTRY | {program} get` by hand to see what it waits for",
        ) from None
    if done.returncode != 0:
        return None  # "credentials not found in native keychain": anonymous then
    try:
        data = json.loads(done.stdout)
        return Credentials(str(data["Username"]), str(data["Secret"]), f"{program} ({source})")
    except (ValueError, KeyError, TypeError):
        raise OciError(
            f"credential helper {program} answered something that is not credentials JSON",
            hint="run `echo <registry> | " + program + " get` to check it",
        ) from None


def _from_entry(entry: dict[str, object], source: str) -> Optional[Credentials]:
    if isinstance(entry.get("identitytoken"), str) and entry["identitytoken"]:
        return Credentials("<token>", str(entry["identitytoken"]), source)
    auth = entry.get("auth")
    if isinstance(auth, str) and auth:
        remember([auth])  # as written, which may differ from its re-encoding (padding)
        try:
            user, _, password = base64.b64decode(auth).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise OciError(
                f"the `auth` value in {source} is not base64 of user:password",
                hint="log in again (`docker login` / `podman login`)",
            ) from None
        return Credentials(user, password, source)
    if isinstance(entry.get("username"), str) and isinstance(entry.get("password"), str):
        return Credentials(str(entry["username"]), str(entry["password"]), source)
    return None


def _from_config_file(path: Path, registry: str) -> Optional[Credentials]:
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise OciError(
            f"cannot read registry credentials from {path}: {exc}",
            hint="fix or remove the file",
        ) from None
    if not isinstance(config, dict):
        return None
    source = str(path)
    keys = _config_keys(registry)
    helpers = config.get("credHelpers") or {}
    for key in keys:
        if isinstance(helpers, dict) and key in helpers:
            return _from_helper(str(helpers[key]), key, source)
    auths = config.get("auths") or {}
    for key in keys:
        if isinstance(auths, dict) and isinstance(auths.get(key), dict):
            found = _from_entry(auths[key], source)
            if found:
                return found
    if isinstance(config.get("credsStore"), str) and config["credsStore"]:
        return _from_helper(config["credsStore"], keys[0], source)
    return None


def find_credentials(registry: str) -> Optional[Credentials]:
    """The registry's credentials, first match wins (see above), registered with the
    redactor; None for anonymous access."""
    found = _find(registry)
    if found is not None:
        remember(found.secrets())
    return found


def _find(registry: str) -> Optional[Credentials]:
    user = os.environ.get("DSTREAM_REGISTRY_USERNAME")
    password = os.environ.get("DSTREAM_REGISTRY_PASSWORD")
    if user is not None and password is not None:
        hosts = {h.strip() for h in os.environ.get("DSTREAM_REGISTRY_HOST", "").split(",")}
        hosts.discard("")
        if not hosts or registry in hosts:
            return Credentials(user, password, "DSTREAM_REGISTRY_USERNAME/PASSWORD")
    if registry == "ghcr.io" and os.environ.get("GITHUB_TOKEN"):
        return Credentials("dstream", os.environ["GITHUB_TOKEN"], "GITHUB_TOKEN")
    for path in _docker_config_files():
        found = _from_config_file(path, registry)
        if found:
            return found
    return None


@record(frozen=True)
class Challenge:
    scheme: str  # "bearer" or "basic"
    params: dict[str, str]


_PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


def parse_challenge(header: str) -> Optional[Challenge]:
    """`Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:a:pull"`."""
    header = header.strip()
    if not header:
        return None
    scheme, _, rest = header.partition(" ")
    params = {
        m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
        for m in _PARAM.finditer(rest)
    }
    return Challenge(scheme.lower(), params)

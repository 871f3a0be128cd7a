"""Registry credentials and the WWW-Authenticate challenge.

Credentials are looked up, first match wins:
1. DSTREAM_REGISTRY_USERNAME / DSTREAM_REGISTRY_PASSWORD (limited to the registries
   listed in DSTREAM_REGISTRY_HOST, comma-separated, when that is set);
2. GITHUB_TOKEN for ghcr.io (what the original DStream used);
3. the Docker config file ($DOCKER_CONFIG/config.json or ~/.docker/config.json):
   `credHelpers`, then `auths`, then `credsStore`; and podman's auth.json
   ($REGISTRY_AUTH_FILE or $XDG_RUNTIME_DIR/containers/auth.json). An `auths` key may
   name a namespace (`host/acme`, as `podman login host/acme` writes): the most specific
   one that holds the repository wins, then the registry's own; a URL key
   (`https://host/v1/`) counts as its host.

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
from dstream.oci.reference import DOCKER_HUB, DOCKER_HUB_NAMES
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


USERNAME_VARIABLE = "DSTREAM_REGISTRY_USERNAME"
PASSWORD_VARIABLE = "DSTREAM_REGISTRY_PASSWORD"
HOST_VARIABLE = "DSTREAM_REGISTRY_HOST"


def _registry_name(name: str) -> str:
    """Docker Hub under one name, whichever of its spellings is written."""
    return DOCKER_HUB if name in DOCKER_HUB_NAMES else name


def _key_name(key: str) -> str:
    """What an auth file key names, as the Docker CLI and containers-auth.json read it:
    a URL (`https://host/v1/`, `http://host:5000/v2/`) counts as its host; any other
    key is `registry[/namespace...]` as written (`podman login host/acme`)."""
    for scheme in ("https://", "http://"):
        if key.startswith(scheme):
            key = key[len(scheme) :].split("/", 1)[0]
            break
    registry, sep, path = key.partition("/")
    return _registry_name(registry) + sep + path


def _candidates(registry: str, repository: str) -> list[str]:
    """The keys that may hold this repository's credentials, most specific first
    (containers-auth.json(5)): registry/ns/repo, registry/ns, ..., registry."""
    parts = [p for p in repository.split("/") if p]
    name = _registry_name(registry)
    return ["/".join([name, *parts[:n]]) for n in range(len(parts), -1, -1)]


def _matching(entries: dict[str, object], candidates: list[str]) -> list[tuple[str, object]]:
    """The (key, value) pairs of `entries` for `candidates`, in the candidates' order;
    for one name, the key written exactly so comes before a URL of it."""
    found: list[tuple[str, object]] = []
    for wanted in candidates:
        keys = [k for k in entries if isinstance(k, str) and _key_name(k) == wanted]
        keys.sort(key=lambda k: k != wanted)
        found.extend((k, entries[k]) for k in keys)
    return found


def _helper_server(registry: str) -> str:
    """The server name a credential store is asked for (`docker login`'s key)."""
    return "https://index.docker.io/v1/" if registry in DOCKER_HUB_NAMES else registry


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


def _from_config_file(path: Path, registry: str, repository: str) -> Optional[Credentials]:
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
    helpers, auths = config.get("credHelpers"), config.get("auths")
    if isinstance(helpers, dict):  # by registry only, as the Docker CLI asks them
        for key, helper in _matching(helpers, _candidates(registry, "")):
            return _from_helper(str(helper), key, str(path))
    if isinstance(auths, dict):
        for key, entry in _matching(auths, _candidates(registry, repository)):
            found = _from_entry(entry, f"{path}, key {key}") if isinstance(entry, dict) else None
            if found:
                return found
    if isinstance(config.get("credsStore"), str) and config["credsStore"]:
        return _from_helper(config["credsStore"], _helper_server(registry), str(path))
    return None


def find_credentials(registry: str, repository: str = "") -> Optional[Credentials]:
    """The credentials for `repository` of `registry`, first match wins (see above),
    registered with the redactor; None for anonymous access."""
    found = _find(registry, repository)
    if found is not None:
        remember(found.secrets())
    return found


def _env_hosts() -> set[str]:
    hosts = {h.strip() for h in os.environ.get(HOST_VARIABLE, "").split(",")}
    hosts.discard("")
    return hosts


def unused_environment(registry: str) -> Optional[str]:
    """Why DSTREAM_REGISTRY_USERNAME/PASSWORD, set, were not used for `registry`; None
    when neither is set or they were used."""
    user, password = os.environ.get(USERNAME_VARIABLE), os.environ.get(PASSWORD_VARIABLE)
    if user is None and password is None:
        return None
    if user is None or password is None:
        present, missing = (
            (USERNAME_VARIABLE, PASSWORD_VARIABLE)
            if password is None
            else (PASSWORD_VARIABLE, USERNAME_VARIABLE)
        )
        return f"{present} is set but {missing} is not set: set both"
    hosts = _env_hosts()
    if hosts and registry not in hosts:
        return (
            f"{USERNAME_VARIABLE}/PASSWORD are set but only for {HOST_VARIABLE} "
            f"({', '.join(sorted(hosts))}), which does not list {registry}: add it there"
        )
    return None


def _find(registry: str, repository: str) -> Optional[Credentials]:
    user = os.environ.get(USERNAME_VARIABLE)
    password = os.environ.get(PASSWORD_VARIABLE)
    if user is not None and password is not None:
        hosts = _env_hosts()
        if not hosts or registry in hosts:
            return Credentials(user, password, f"{USERNAME_VARIABLE}/PASSWORD")
    if registry == "ghcr.io" and os.environ.get("GITHUB_TOKEN"):
        return Credentials("dstream", os.environ["GITHUB_TOKEN"], "GITHUB_TOKEN")
    for path in _docker_config_files():
        found = _from_config_file(path, registry, repository)
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

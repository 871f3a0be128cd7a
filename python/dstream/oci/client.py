"""A small native client for the OCI distribution API (no external CLI).

Speaks HTTP/1.1 (transport.py) so that redirects to blob storage are followed without
forwarding the registry's Authorization header to another host. Authentication follows
the registry's challenge: anonymous first, then a bearer token from the realm it names
(GHCR, Docker Hub, distribution with token auth) or basic auth (htpasswd). Every
credential and token is registered with the redactor: no output shows it, not even a
registry's error body that echoes it.
"""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from typing import Callable, Optional, Protocol

from dstream.config.redact import redact_text, remember
from dstream.config.reference_syntax import is_tag
from dstream.oci.auth import (
    Challenge,
    Credentials,
    find_credentials,
    parse_challenge,
    unused_environment,
)
from dstream.oci.errors import CUT_HINT, RegistryError, RegistryUnreachable
from dstream.oci.reference import Reference, is_digest, uses_plain_http
from dstream.oci.transport import Body, Response, origin, send

USER_AGENT = "dstream-oci/1"
MAX_MANIFEST = 4 * 1024 * 1024
MAX_ERROR_BODY = 64 * 1024  # what is read of an error answer: enough for its message

MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)

Progress = Callable[[int, Optional[int]], None]


class Sink(Protocol):
    """Where a blob is streamed to: a file, a BytesIO, the cache's staging file."""

    def write(self, data: bytes, /) -> object: ...


def unavailable(status: int) -> bool:
    """An answer that says the registry cannot serve now (rate limited, overloaded, a
    proxy without its backend), not that the request is wrong: a cached copy may serve."""
    return status == 429 or 500 <= status <= 599


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _registry_errors(body: bytes) -> str:
    """The `errors` array distribution returns, as one line, redacted: a registry or a
    proxy may echo the request's Authorization header."""
    try:
        doc = json.loads(body)
        items = [f"{e.get('code', '?')}: {e.get('message', '')}".strip() for e in doc["errors"]]
        text = "; ".join(items)
    except (ValueError, KeyError, TypeError, AttributeError):
        text = body[:200].decode("utf-8", "replace").strip()
    return redact_text(text)


class RegistryClient:
    """One registry; tokens are kept per scope for the client's life.

    The registry's credentials go to the registry's own origin (scheme, host and port)
    and to the token realm that origin's own challenge names (which may be another host:
    auth.docker.io for registry-1.docker.io). Never to a host a redirect leads to: a
    pre-signed storage URL is fetched without any, and its challenge is not answered.
    """

    def __init__(
        self,
        registry: str,
        api_host: Optional[str] = None,
        *,
        insecure: bool = False,
        credentials: Optional[Credentials] = None,
        timeout: float = 60.0,
        repository: str = "",
    ) -> None:
        self.registry = registry
        self.repository = repository  # whose credentials an auth file's namespace key holds
        self.api_host = api_host or registry
        self.scheme = "http" if uses_plain_http(registry, insecure) else "https"
        self.origin = (self.scheme, self.api_host.lower())
        self.timeout = timeout
        self._credentials = credentials
        self._credentials_looked_up = credentials is not None
        if credentials is not None:
            remember(credentials.secrets())
        self._tokens: dict[str, str] = {}
        self._basic = False

    @classmethod
    def for_reference(cls, ref: Reference, *, insecure: bool = False) -> RegistryClient:
        return cls(ref.registry, ref.api_host, insecure=insecure, repository=ref.repository)

    @property
    def credentials(self) -> Optional[Credentials]:
        if not self._credentials_looked_up:
            self._credentials = find_credentials(self.registry, self.repository)
            self._credentials_looked_up = True
        return self._credentials

    # -- transport ---------------------------------------------------------------------
    def _send(self, method: str, url: str, headers: dict[str, str], body: Body) -> Response:
        return send(method, url, headers, body, registry=self.registry, timeout=self.timeout)

    def url(self, path: str) -> str:
        return f"{self.scheme}://{self.api_host}{path}"

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        scope: str,
        headers: Optional[dict[str, str]] = None,
        body: Body = None,
    ) -> Response:
        url = path_or_url if "://" in path_or_url else self.url(path_or_url)
        own = origin(url) == self.origin
        base = {"User-Agent": USER_AGENT, **(headers or {})}
        for attempt in range(2):
            sent = dict(base)
            auth = self._authorization(scope) if own else None
            if auth:
                sent["Authorization"] = auth
            if body is not None and hasattr(body, "seek"):
                body.seek(0)
            response = self._send(method, url, sent, body)
            if response.status != 401:
                break
            response.close()
            if origin(response.url) != self.origin:
                raise self._foreign_challenge(url, response.url)
            challenge = parse_challenge(response.headers.get("www-authenticate", ""))
            if attempt == 1 or not self._answer(challenge, scope):
                break  # nothing more to try: report the 401 below
        if response.status == 401:
            raise self._unauthorized(scope)
        return response

    # -- authentication ----------------------------------------------------------------
    def _authorization(self, scope: str) -> Optional[str]:
        if scope in self._tokens:
            return f"Bearer {self._tokens[scope]}"
        if self._basic and self.credentials:
            return self.credentials.basic_header()
        return None

    def _answer(self, challenge: Optional[Challenge], scope: str) -> bool:
        """Prepare credentials for the retry; False when there is nothing new to send.
        Only ever called with a challenge of the registry's own origin."""
        if challenge is None:
            return False
        if challenge.scheme == "basic":
            if self._basic or not self.credentials:
                return False
            self._basic = True
            return True
        if challenge.scheme == "bearer":
            if scope in self._tokens:
                return False  # the token we had was refused
            self._tokens[scope] = self._fetch_token(challenge, scope)
            return True
        return False

    def _realm(self, challenge: Challenge) -> str:
        """The token service the registry named; credentials go there only over HTTPS,
        unless the registry itself speaks plain HTTP (loopback, --insecure)."""
        realm = challenge.params.get("realm")
        if not realm:
            raise RegistryError(
                f"registry {self.registry} asked for a bearer token but named no realm",
                hint="check the registry's auth configuration",
            )
        scheme = urllib.parse.urlsplit(realm).scheme
        if scheme not in ("http", "https") or (
            scheme == "http" and self.scheme == "https" and self.credentials
        ):
            raise RegistryError(
                f"registry {self.registry} names the token service {realm!r}: dstream sends "
                "the registry's credentials only to an https:// token service",
                hint="check the registry's auth configuration (its token realm)",
            )
        return realm

    def _fetch_token(self, challenge: Challenge, scope: str) -> str:
        realm = self._realm(challenge)
        query = {"scope": scope}
        if challenge.params.get("service"):
            query["service"] = challenge.params["service"]
        url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(query)
        headers = {"User-Agent": USER_AGENT}
        if self.credentials:
            headers["Authorization"] = self.credentials.basic_header()
        response = self._send("GET", url, headers, None)
        body = response.read(MAX_MANIFEST)
        if response.status in (401, 403):
            raise self._unauthorized(scope)
        if response.status != 200:
            error = RegistryUnreachable if unavailable(response.status) else RegistryError
            raise error(
                f"token service {realm} of registry {self.registry} answered "
                f"{response.status}: {_registry_errors(body[:MAX_ERROR_BODY])}",
                hint="check the registry's auth service",
            )
        try:
            doc = json.loads(body)
            token = str(doc.get("token") or doc["access_token"])
        except (ValueError, KeyError, TypeError, AttributeError):
            raise RegistryError(
                f"token service {realm} answered without a token",
                hint="check the registry's auth configuration (its token service)",
            ) from None
        remember([token])
        return token

    def _foreign_challenge(self, asked: str, answered: str) -> RegistryError:
        host = urllib.parse.urlsplit(answered).netloc
        return RegistryError(
            f"{host}, where registry {self.registry} sent the request for {asked}, asks "
            "for authentication: dstream does not send the registry's credentials to "
            "another host",
            hint="a registry's storage redirect (a pre-signed URL) must need no credentials: "
            "tell the registry's owner",
        )

    def _unauthorized(self, scope: str) -> RegistryError:
        what = scope.split(":")[1] if scope.count(":") >= 2 else scope
        creds = self.credentials
        if creds is None:
            login = f"log in (`docker login {self.registry}`, `podman login`)"
            unused = unused_environment(self.registry)
            return RegistryError(
                f"registry {self.registry} requires authentication for {what}",
                hint=f"{login}; {unused}"
                if unused
                else f"{login}, or set DSTREAM_REGISTRY_USERNAME and DSTREAM_REGISTRY_PASSWORD",
            )
        return RegistryError(
            f"registry {self.registry} refused the credentials of user {creds.username!r} "
            f"(from {creds.source}) for {what}",
            hint="check the username and password or token, and that it may access this "
            "repository (push needs write access)",
        )

    # -- the distribution API ----------------------------------------------------------
    def _check(self, response: Response, what: str, ok: tuple[int, ...] = (200,)) -> None:
        if response.status in ok:
            return
        detail = _registry_errors(response.read(MAX_ERROR_BODY)[:MAX_ERROR_BODY])
        if response.status == 404:
            raise RegistryError(
                f"{what}: not found in registry {self.registry} ({detail})",
                hint="check the repository name and tag (`dstream providers inspect REF`)",
            )
        if response.status == 403:
            raise RegistryError(
                f"{what}: registry {self.registry} denied access ({detail})",
                hint="the credentials in use may not access this repository",
            )
        error = RegistryUnreachable if unavailable(response.status) else RegistryError
        raise error(
            f"{what}: registry {self.registry} answered {response.status} ({detail})",
            hint="retry later; if it persists, check the registry's logs",
        )

    def get_manifest(
        self, repository: str, target: str, *, size: Optional[int] = None
    ) -> tuple[bytes, str, str]:
        """(body, media type, digest) of a manifest, `target` a tag or a digest. The
        digest is computed here and compared with the one asked for and with what the
        registry claims; `size`, when a descriptor gives it, bounds and checks the body."""
        if not (is_digest(target) or is_tag(target)):
            raise RegistryError(
                f"manifest {repository}:{target!r}: neither a tag nor a sha256 digest",
                hint="name manifests by tag or by sha256:<64 hex>",
            )
        response = self.request(
            "GET",
            f"/v2/{repository}/manifests/{target}",
            scope=f"repository:{repository}:pull",
            headers={"Accept": ", ".join(MANIFEST_TYPES)},
        )
        self._check(response, f"manifest {repository}:{target}")
        claimed = response.headers.get("docker-content-digest")
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        limit = MAX_MANIFEST if size is None else min(size, MAX_MANIFEST)
        body = response.read(limit)
        if len(body) > limit or (size is not None and len(body) != size):
            got = f"more than {limit}" if len(body) > limit else str(len(body))
            bound = f"its descriptor gives {size}" if size is not None else "the limit"
            raise RegistryError(
                f"manifest {repository}@{target} is {got} bytes; {bound} bytes",
                hint="the registry or something in between altered the manifest; do not use it",
            )
        digest = sha256_digest(body)
        if is_digest(target) and digest != target:
            raise RegistryError(
                f"manifest of {repository}@{target} has digest {digest}: content does not "
                "match the digest asked for",
                hint="the registry or something in between altered the manifest; do not use it",
            )
        if claimed and claimed.startswith("sha256:") and claimed != digest:
            raise RegistryError(
                f"manifest {repository}:{target}: registry says digest {claimed} but the "
                f"content hashes to {digest}",
                hint="the registry or something in between altered the manifest; do not use it",
            )
        return body, media_type, digest

    def fetch_blob(
        self,
        repository: str,
        digest: str,
        sink: Sink,
        *,
        size: int,
        progress: Optional[Progress] = None,
    ) -> None:
        """Stream a blob into `sink`, checking its sha256 and size as it goes: no more
        than `size` + 1 bytes are read, whatever the registry sends."""
        if not is_digest(digest):
            raise RegistryError(
                f"blob {digest!r} of {repository}: not a sha256 digest",
                hint="blobs are named by sha256:<64 hex>",
            )
        response = self.request(
            "GET", f"/v2/{repository}/blobs/{digest}", scope=f"repository:{repository}:pull"
        )
        self._check(response, f"blob {digest} of {repository}")
        hasher = hashlib.sha256()
        done = 0
        for block in response.chunks(size + 1):
            hasher.update(block)
            sink.write(block)
            done += len(block)
            if progress and done <= size:
                progress(done, size)
        if done < size:  # a connection closed early (without a Content-Length to tell)
            raise RegistryUnreachable(
                f"blob {digest} of {repository}: the download ended after {done} of {size} "
                "bytes; nothing was kept",
                hint=CUT_HINT,
            )
        actual = "sha256:" + hasher.hexdigest()
        if done != size or actual != digest:
            received = f"{done} bytes" if done <= size else f"more than {size} bytes"
            raise RegistryError(
                f"blob of {repository} failed verification: expected {digest} ({size} bytes)"
                f", received {actual} ({received}); nothing was kept",
                hint="the blob was altered in the registry or in transit; re-push the "
                "provider or contact the registry's owner",
            )

    def blob_exists(self, repository: str, digest: str) -> bool:
        response = self.request(
            "HEAD", f"/v2/{repository}/blobs/{digest}", scope=f"repository:{repository}:pull,push"
        )
        response.close()
        return response.status == 200

    def push_blob(self, repository: str, data: bytes) -> str:
        digest = sha256_digest(data)
        if self.blob_exists(repository, digest):
            return digest
        scope = f"repository:{repository}:pull,push"
        response = self.request("POST", f"/v2/{repository}/blobs/uploads/", scope=scope)
        self._check(response, f"starting an upload to {repository}", ok=(202,))
        response.close()
        location = urllib.parse.urljoin(self.url("/"), response.headers.get("location", ""))
        location += ("&" if "?" in location else "?") + urllib.parse.urlencode({"digest": digest})
        response = self.request(
            "PUT",
            location,
            scope=scope,
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(len(data))},
            body=data,
        )
        self._check(response, f"uploading blob {digest} to {repository}", ok=(201,))
        response.close()
        return digest

    def push_manifest(self, repository: str, tag: str, body: bytes, media_type: str) -> str:
        response = self.request(
            "PUT",
            f"/v2/{repository}/manifests/{tag}",
            scope=f"repository:{repository}:pull,push",
            headers={"Content-Type": media_type, "Content-Length": str(len(body))},
            body=body,
        )
        self._check(response, f"pushing manifest {repository}:{tag}", ok=(201,))
        response.close()
        return sha256_digest(body)

    def ping(self) -> dict[str, object]:
        response = self.request("GET", "/v2/", scope="")
        response.close()
        return {"status": response.status}

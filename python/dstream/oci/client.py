"""A small native client for the OCI distribution API (no external CLI).

Speaks HTTP/1.1 through http.client so that redirects to blob storage are followed
without forwarding the registry's Authorization header to another host. Authentication
follows the registry's challenge: anonymous first, then a bearer token from the realm
it names (GHCR, Docker Hub, distribution with token auth) or basic auth (htpasswd).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import ssl
import urllib.parse
from collections.abc import Iterator
from typing import IO, Callable, Optional, Union

from dstream.oci.auth import Challenge, Credentials, find_credentials, parse_challenge
from dstream.oci.errors import OciError
from dstream.oci.reference import Reference, uses_plain_http
from dstream.records import record

USER_AGENT = "dstream-oci/1"
CHUNK = 1 << 16
MAX_MANIFEST = 4 * 1024 * 1024
MAX_REDIRECTS = 5

MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)

Progress = Callable[[int, Optional[int]], None]
Body = Union[bytes, IO[bytes], None]


class RegistryError(OciError):
    """The registry could not be reached or refused a request."""


class RegistryUnreachable(RegistryError):
    """No answer at all (connection refused, DNS, timeout): a cached copy may serve."""


@record
class Response:
    status: int
    headers: dict[str, str]  # lower-case names
    raw: http.client.HTTPResponse
    conn: http.client.HTTPConnection

    def read(self, limit: Optional[int] = None) -> bytes:
        try:
            data = self.raw.read() if limit is None else self.raw.read(limit + 1)
        finally:
            self.close()
        if limit is not None and len(data) > limit:
            raise RegistryError(
                f"registry answer larger than {limit} bytes", hint="check the reference"
            )
        return data

    def chunks(self) -> Iterator[bytes]:
        try:
            while True:
                block = self.raw.read(CHUNK)
                if not block:
                    return
                yield block
        finally:
            self.close()

    def close(self) -> None:
        self.conn.close()


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _registry_errors(body: bytes) -> str:
    """The `errors` array distribution returns, as one line."""
    try:
        doc = json.loads(body)
        items = [f"{e.get('code', '?')}: {e.get('message', '')}".strip() for e in doc["errors"]]
        return "; ".join(items)
    except (ValueError, KeyError, TypeError, AttributeError):
        return body[:200].decode("utf-8", "replace").strip()


class RegistryClient:
    """One registry; tokens are kept per scope for the client's life."""

    def __init__(
        self,
        registry: str,
        api_host: Optional[str] = None,
        *,
        insecure: bool = False,
        credentials: Optional[Credentials] = None,
        timeout: float = 60.0,
    ) -> None:
        self.registry = registry
        self.api_host = api_host or registry
        self.scheme = "http" if uses_plain_http(registry, insecure) else "https"
        self.timeout = timeout
        self._credentials = credentials
        self._credentials_looked_up = credentials is not None
        self._tokens: dict[str, str] = {}
        self._basic = False

    @classmethod
    def for_reference(cls, ref: Reference, *, insecure: bool = False) -> RegistryClient:
        return cls(ref.registry, ref.api_host, insecure=insecure)

    @property
    def credentials(self) -> Optional[Credentials]:
        if not self._credentials_looked_up:
            self._credentials = find_credentials(self.registry)
            self._credentials_looked_up = True
        return self._credentials

    # -- transport ---------------------------------------------------------------------
    def _connect(self, url: urllib.parse.SplitResult) -> http.client.HTTPConnection:
        host = url.hostname or ""
        if url.scheme == "https":
            return http.client.HTTPSConnection(
                host, url.port, timeout=self.timeout, context=ssl.create_default_context()
            )
        return http.client.HTTPConnection(host, url.port, timeout=self.timeout)

    def _send(self, method: str, url: str, headers: dict[str, str], body: Body) -> Response:
        """One request, following redirects of GET/HEAD. Authorization is dropped when a
        redirect leaves the registry's host (pre-signed storage URLs reject it)."""
        for _ in range(MAX_REDIRECTS + 1):
            parts = urllib.parse.urlsplit(url)
            conn = self._connect(parts)
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            try:
                conn.request(method, target, body=body, headers=headers)
                raw = conn.getresponse()
            except ssl.SSLError as exc:
                conn.close()
                raise RegistryError(
                    f"TLS failed with registry {self.registry} ({url}): {exc.reason or exc}",
                    hint="if this registry serves plain HTTP, opt in with --insecure or list "
                    f"{self.registry} in DSTREAM_INSECURE_REGISTRIES",
                ) from None
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                raise RegistryUnreachable(
                    f"cannot reach registry {self.registry} at {parts.scheme}://{parts.netloc}: "
                    f"{getattr(exc, 'strerror', None) or exc}",
                    hint="check the registry address and that it is up; a provider pulled "
                    "before runs from the cache without the registry",
                ) from None
            response = Response(raw.status, {k.lower(): v for k, v in raw.getheaders()}, raw, conn)
            if raw.status in (301, 302, 303, 307, 308) and method in ("GET", "HEAD"):
                location = response.headers.get("location", "")
                response.read()
                new_url = urllib.parse.urljoin(url, location)
                if urllib.parse.urlsplit(new_url).netloc != parts.netloc:
                    headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
                url = new_url
                continue
            return response
        raise RegistryError(
            f"too many redirects from {url}",
            hint="the registry redirects in a loop: check its URL and its proxy settings",
        )

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
        base = {"User-Agent": USER_AGENT, **(headers or {})}
        for attempt in range(2):
            sent = dict(base)
            auth = self._authorization(scope)
            if auth:
                sent["Authorization"] = auth
            if body is not None and hasattr(body, "seek"):
                body.seek(0)
            response = self._send(method, url, sent, body)
            if response.status != 401 or attempt == 1:
                break
            challenge = parse_challenge(response.headers.get("www-authenticate", ""))
            response.read()
            if not self._answer(challenge, scope):
                break  # nothing more to try: report the 401 below
        if response.status == 401:
            response.read()
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
        """Prepare credentials for the retry; False when there is nothing new to send."""
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

    def _fetch_token(self, challenge: Challenge, scope: str) -> str:
        realm = challenge.params.get("realm")
        if not realm:
            raise RegistryError(
                f"registry {self.registry} asked for a bearer token but named no realm",
                hint="check the registry's auth configuration",
            )
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
            raise RegistryError(
                f"token service {realm} of registry {self.registry} answered "
                f"{response.status}: {_registry_errors(body)}",
                hint="check the registry's auth service",
            )
        try:
            doc = json.loads(body)
            return str(doc.get("token") or doc["access_token"])
        except (ValueError, KeyError, TypeError, AttributeError):
            raise RegistryError(
                f"token service {realm} answered without a token",
                hint="check the registry's auth configuration (its token service)",
            ) from None

    def _unauthorized(self, scope: str) -> RegistryError:
        what = scope.split(":")[1] if scope.count(":") >= 2 else scope
        creds = self.credentials
        if creds is None:
            return RegistryError(
                f"registry {self.registry} requires authentication for {what}",
                hint=f"log in (`docker login {self.registry}`, `podman login`), or set "
                "DSTREAM_REGISTRY_USERNAME and DSTREAM_REGISTRY_PASSWORD",
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
        detail = _registry_errors(response.read(MAX_MANIFEST))
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
        raise RegistryError(
            f"{what}: registry {self.registry} answered {response.status} ({detail})",
            hint="retry later; if it persists, check the registry's logs",
        )

    def get_manifest(self, repository: str, target: str) -> tuple[bytes, str, str]:
        """(body, media type, digest) of a manifest. The digest is computed here and
        compared with what the registry claims."""
        response = self.request(
            "GET",
            f"/v2/{repository}/manifests/{target}",
            scope=f"repository:{repository}:pull",
            headers={"Accept": ", ".join(MANIFEST_TYPES)},
        )
        self._check(response, f"manifest {repository}:{target}")
        claimed = response.headers.get("docker-content-digest")
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        body = response.read(MAX_MANIFEST)
        digest = sha256_digest(body)
        if target.startswith("sha256:") and digest != target:
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
        sink: IO[bytes],
        *,
        size: Optional[int] = None,
        progress: Optional[Progress] = None,
    ) -> None:
        """Stream a blob into `sink`, checking its sha256 (and size) as it goes."""
        response = self.request(
            "GET", f"/v2/{repository}/blobs/{digest}", scope=f"repository:{repository}:pull"
        )
        self._check(response, f"blob {digest} of {repository}")
        hasher = hashlib.sha256()
        done = 0
        for block in response.chunks():
            hasher.update(block)
            sink.write(block)
            done += len(block)
            if size is not None and done > size:
                response.close()
                break
            if progress:
                progress(done, size)
        actual = "sha256:" + hasher.hexdigest()
        if (size is not None and done != size) or actual != digest:
            raise RegistryError(
                f"blob of {repository} failed verification: expected {digest}"
                + (f" ({size} bytes)" if size is not None else "")
                + f", received {actual} ({done} bytes); nothing was kept",
                hint="the blob was altered in the registry or in transit; re-push the "
                "provider or contact the registry's owner",
            )

    def blob_exists(self, repository: str, digest: str) -> bool:
        response = self.request(
            "HEAD", f"/v2/{repository}/blobs/{digest}", scope=f"repository:{repository}:pull,push"
        )
        response.read()
        return response.status == 200

    def push_blob(self, repository: str, data: bytes) -> str:
        digest = sha256_digest(data)
        if self.blob_exists(repository, digest):
            return digest
        scope = f"repository:{repository}:pull,push"
        response = self.request("POST", f"/v2/{repository}/blobs/uploads/", scope=scope)
        self._check(response, f"starting an upload to {repository}", ok=(202,))
        response.read()
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
        response.read()
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
        response.read()
        return sha256_digest(body)

    def ping(self) -> dict[str, object]:
        response = self.request("GET", "/v2/", scope="")
        status = response.status
        response.read()
        return {"status": status}

"""RabbitMQ's management HTTP API, for what AMQP cannot do: list the queues of a vhost,
with their arguments, where dstream's mark is (leftovers.py); count a queue's messages
a consumer holds unacknowledged; say whether a queue is durable. A broker without the
plugin makes the lifecycle commands say what they could not look at, never fail."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Optional

from dstream.config.model import url_host
from dstream.providers.queues.leftovers import CannotList, Marked, read_mark

Pika = Any  # Any: pika's URLParameters ships no type information

TIMEOUT = 10.0  # seconds for the one request: a lifecycle command waits on it
# What `queue` asks for: messages_unacknowledged, which AMQP's passive declare does not
# count (its message_count is of ready messages only), and the settings it does not say.
QUEUE_COLUMNS = "messages_unacknowledged,durable,auto_delete,exclusive"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class _Refuse(urllib.request.HTTPRedirectHandler):
    """A redirect is not followed: urllib's would carry the Authorization header (the
    broker's password) to whatever host it names, https to http too."""

    def redirect_request(self, *_: Any, **__: Any) -> None:
        return None  # urllib then raises the redirect as an HTTPError


_NO_REDIRECTS = urllib.request.build_opener(_Refuse)


def management_url_for(amqp_url: str) -> str:
    """The management API's usual address for an AMQP URL: its host, port 15672
    (15671 over TLS for amqps), as the plugin listens by default."""
    parts = urllib.parse.urlsplit(amqp_url)
    tls = parts.scheme == "amqps"
    host = url_host(parts.hostname or "localhost")
    return f"{'https' if tls else 'http'}://{host}:{15671 if tls else 15672}"


class ManagementApi:
    def __init__(self, url: str, params: Pika) -> None:
        parts = urllib.parse.urlsplit(url)
        # Credentials: the URL's own, else the AMQP URL's; never shown in a message.
        self.user = urllib.parse.unquote(parts.username or "") or params.credentials.username
        self.password = (
            urllib.parse.unquote(parts.password or "")
            if parts.username
            else params.credentials.password
        )
        netloc = url_host(parts.hostname or "")
        self.where = f"{parts.scheme}://{netloc}" + (f":{parts.port}" if parts.port else "")
        self.base = self.where + parts.path.rstrip("/")
        self.vhost = params.virtual_host

    def marked(self, task: str) -> list[Marked]:
        queues = self._get(
            f"/api/queues/{urllib.parse.quote(self.vhost, safe='')}?columns=name,arguments"
        )
        found = (
            read_mark(task, str(queue.get("name")), queue.get("arguments"))
            for queue in (queues if isinstance(queues, list) else [])
            if isinstance(queue, dict)
        )
        return [marked for marked in found if marked is not None]

    def queue(self, name: str) -> Optional[dict[str, Any]]:  # Any: the API's JSON
        """The API's figures and settings of queue `name`; None when it does not know
        the queue (gone, or too new to have figures yet)."""
        vhost, queue = (urllib.parse.quote(x, safe="") for x in (self.vhost, name))
        found = self._get(f"/api/queues/{vhost}/{queue}?columns={QUEUE_COLUMNS}", missing_ok=True)
        return found if isinstance(found, dict) else None

    def _get(self, path: str, *, missing_ok: bool = False) -> Any:  # Any: the API's JSON
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        request = urllib.request.Request(
            self.base + path, headers={"Authorization": f"Basic {token}"}
        )
        try:
            with _NO_REDIRECTS.open(request, timeout=TIMEOUT) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            if missing_ok and exc.code == 404:
                return None
            raise self._refused(exc) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise CannotList(
                f"RabbitMQ's management API at {self.where} did not answer ({reason})",
                hint="enable the rabbitmq_management plugin, or set management_url "
                '(or "off" not to look)',
            ) from None
        except ValueError:
            raise CannotList(
                f"{self.where} did not answer as RabbitMQ's management API (not JSON)",
                hint="set management_url to the management plugin's address",
            ) from None

    def _refused(self, exc: urllib.error.HTTPError) -> CannotList:
        if exc.code in _REDIRECTS:
            went = exc.headers.get("Location", "?") if exc.headers else "?"
            return CannotList(
                f"RabbitMQ's management API at {self.where} redirected to {went}: dstream "
                "does not follow it (the broker's password goes to management_url only)",
                hint="set management_url to the address the API answers at",
            )
        if exc.code == 401:  # a wrong password, or a user the API does not let in
            return CannotList(
                f"RabbitMQ's management API at {self.where} refused user {self.user!r}",
                hint="check the password in url (or management_url), and that the user has "
                "the management (or monitoring) tag, which listing queues needs",
            )
        if exc.code == 404:  # the API answers 404 for a vhost it does not have
            return CannotList(
                f"RabbitMQ's management API at {self.where} has no vhost {self.vhost!r} (HTTP 404)",
                hint="check the vhost in url's path (%2F is the default vhost /), or that "
                "management_url is the management plugin's address",
            )
        return CannotList(
            f"RabbitMQ's management API at {self.where} answered HTTP {exc.code} ({exc.reason})",
            hint="set management_url to the management plugin's address",
        )

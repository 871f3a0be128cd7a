"""The names `deploy kubernetes` gives objects, each one Kubernetes accepts (its API
server refuses the others at `kubectl apply`, after `deploy` said nothing):

- a DNS-1123 label (namespaces, label values of names): lower-case letters, digits and
  '-', starting and ending with a letter or digit, at most 63 characters;
- a DNS-1035 label (Services): the same, starting with a letter;
- a DNS-1123 subdomain (ConfigMaps, Secrets, Deployments, ...): such labels joined by
  '.', at most 253 characters;
- a StatefulSet: at most 52 characters, since its pods carry the label
  controller-revision-hash = NAME-<10 characters>, a label value of at most 63.

A name given on the command line is checked (a usage error naming the rule); a name
made from it and a task's name is cut, with a hash of the whole, to its limit, so two
long names stay apart.

A ConfigMap's key (a configuration file's name in the pods' directory) is made of
letters, digits, '-', '_' and '.', at most 253 characters.
"""

from __future__ import annotations

import re
import zlib

from dstream.errors import UsageError

LABEL_MAX = 63
SUBDOMAIN_MAX = 253
STATEFUL_SET_MAX = 52
_NOT_DNS = re.compile(r"[^a-z0-9-]+")
_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_CONFIG_KEY = re.compile(r"[-._a-zA-Z0-9]+")
CONFIG_KEY = (
    f"letters, digits, '-', '_' and '.' ({_CONFIG_KEY.pattern}), at most {SUBDOMAIN_MAX} characters"
)
_HASH = 8  # hex digits of the crc32 that keeps two cut names apart

DNS1035_LABEL = (
    "a DNS-1035 label: lower-case letters, digits and '-', starting with a letter, "
    f"ending with a letter or digit, at most {LABEL_MAX} characters"
)
DNS1123_LABEL = (
    "a DNS-1123 label: lower-case letters, digits and '-', starting and ending with a "
    f"letter or digit, at most {LABEL_MAX} characters"
)
DNS1123_SUBDOMAIN = (
    "a DNS-1123 subdomain: DNS-1123 labels (lower-case letters, digits and '-', "
    f"starting and ending with a letter or digit) joined by '.', at most {SUBDOMAIN_MAX} "
    "characters"
)


def is_dns1035_label(name: str) -> bool:
    return len(name) <= LABEL_MAX and _DNS1035_LABEL.fullmatch(name) is not None


def is_dns1123_label(name: str) -> bool:
    return len(name) <= LABEL_MAX and _DNS1123_LABEL.fullmatch(name) is not None


def is_dns1123_subdomain(name: str) -> bool:
    return len(name) <= SUBDOMAIN_MAX and all(map(is_dns1123_label, name.split(".")))


def is_config_key(key: str) -> bool:
    return len(key) <= SUBDOMAIN_MAX and _CONFIG_KEY.fullmatch(key) is not None


def dns_name(*parts: str, limit: int = LABEL_MAX) -> str:
    """A DNS-1123 label from a prefix and task names and the like, at most `limit`
    characters: a longer one is cut and ends with a hash of the whole."""
    text = _NOT_DNS.sub("-", "-".join(parts).lower()).strip("-")
    if len(text) > limit:
        cut = text[: limit - _HASH - 1].rstrip("-")
        text = f"{cut}-{zlib.crc32(text.encode()):0{_HASH}x}"
    return text or "dstream"


def check(flag: str, value: str, rule: str) -> None:
    """A name given with `flag`: a usage error when it breaks `rule` (one of the rule
    texts above)."""
    ok = {
        DNS1035_LABEL: is_dns1035_label,
        DNS1123_LABEL: is_dns1123_label,
        DNS1123_SUBDOMAIN: is_dns1123_subdomain,
    }[rule](value)
    if ok:
        return
    kind = rule.partition(":")[0]
    suggestion = dns_name(value)
    if rule == DNS1035_LABEL and not suggestion[0].isalpha():
        suggestion = dns_name("ds", suggestion)
    raise UsageError(
        f"{flag} {value!r} is a name Kubernetes refuses: it must be {rule}",
        hint=f"pass {flag} as {kind}, such as {suggestion!r}",
    )

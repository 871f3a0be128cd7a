"""A multi-line secret's lines are masked one by one only from MIN_LINE_LENGTH
characters on (config/redact.py `_parts`): a kubeconfig in a sensitive variable has
lines such as "kind: Config" that would otherwise be masked in every output."""

from __future__ import annotations

from dstream.config.redact import REDACTED, Redactor

KUBECONFIG = """apiVersion: v1
kind: Config
users:
- name: default
  user:
    client-key-data: LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0t
"""


def test_a_short_line_of_a_secret_is_masked_only_within_it() -> None:
    redactor = Redactor([KUBECONFIG])
    for line in ("kind: Config", "users:", "apiVersion: v1", "- name: default"):
        assert redactor.text(f"seen {line} here") == f"seen {line} here"
    assert redactor.text(KUBECONFIG) == REDACTED
    key = "client-key-data: LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0t"
    assert redactor.text(f"stderr: {key}") == f"stderr: {REDACTED}"

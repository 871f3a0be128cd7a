"""A key of a shown object that holds a secret is masked without merging entries, and
the key names of a sensitive object are no secret (docs/security.md: the marks are on
values): keys() of one must not make "user" or "password" masked in every output."""

from __future__ import annotations

from pathlib import Path

from dstream.config.redact import Redactor
from tests.workspace import dstream, json_document

CONFIG = """
variable "tables" {
  sensitive = true
  default   = ["orders", "customers"]
}
variable "creds" {
  sensitive = true
  default   = { user = "admin_user", password = "pa55word-xyz" }
}
locals {
  routes = { for t in var.tables : t => "topic_${t}" }
}
task "t" {
  input { provider_path = "dstream-counter" }
  output {
    provider_path = "dstream-null"
    config = {
      routes = local.routes
      login  = var.creds
      fields = keys(var.creds)
      note   = "the user resets a password"
    }
  }
}
"""


def shown(tmp_path: Path, *flags: str) -> dict[str, object]:
    config = tmp_path / "dstream.hcl"
    config.write_text(CONFIG)
    done = dstream("show", "t", "--json", *flags, "-c", str(config), without="DSTREAM_")
    assert done.returncode == 0, done.stderr
    for secret in ("orders", "customers", "admin_user", "pa55word-xyz"):
        assert flags or secret not in done.stdout + done.stderr
    return json_document(done)["output"]["config"]  # type: ignore[no-any-return]


def test_masked_keys_keep_every_entry(tmp_path: Path) -> None:
    assert shown(tmp_path, "--show-secrets")["routes"] == {
        "customers": "topic_customers",
        "orders": "topic_orders",
    }
    routes = shown(tmp_path)["routes"]
    assert routes == {"***": "***", "***#2": "***"}, routes


def test_key_names_of_a_sensitive_object_are_no_secret(tmp_path: Path) -> None:
    config = shown(tmp_path)
    assert config["login"] == {"user": "***", "password": "***"}
    assert config["fields"] == ["password", "user"]
    assert config["note"] == "the user resets a password"


def test_a_masked_key_never_takes_another_entrys_place() -> None:
    """An object that already has a key spelled as a mask keeps it, and its value."""
    redacted = Redactor(["alpha-secret", "beta-secret"]).value(
        {"alpha-secret": 1, "***#2": 2, "beta-secret": 3, "***": 4}
    )
    assert redacted == {"***#3": 1, "***#2": 2, "***#4": 3, "***": 4}

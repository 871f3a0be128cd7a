"""dstream-servicebus reads the original dstream-out-asb configuration as written
(ORIGINAL.md section 2), keys in camelCase, through the real provider process."""

from __future__ import annotations

import json
import subprocess

import pytest

from dstream.errors import ConfigError
from dstream.providers.queues.servicebus import ServiceBusConfig
from dstream.sdk.config import bind_config

ORIGINAL = {
    "connectionString": "Endpoint=sb://sb-dstream-dev.servicebus.windows.net/;"
    "SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=c2VjcmV0",
    "resourceGroup": "rg-dstream-dev",
    "namespace": "sb-dstream-dev",
    "sourceHost": "localhost",
    "sourceDatabase": "TestDB",
    "tables": ["dbo.Cars", "dbo.Persons"],
}


def test_original_keys_are_accepted_and_name_queues_per_source() -> None:
    cfg = bind_config(ServiceBusConfig, dict(ORIGINAL))
    assert cfg.database == "TestDB"
    assert cfg.resource_group == "rg-dstream-dev"
    from dstream.providers.queues.servicebus import ServiceBusOutput

    out = ServiceBusOutput(cfg, task="mssql-to-asb")  # no Azure here: naming only
    names = sorted(q for q, table in out.router.wanted() if table)
    assert names == ["localhost-TestDB-Cars", "localhost-TestDB-Persons"]


def test_namespace_must_match_the_connection_string() -> None:
    with pytest.raises(ConfigError, match="namespace = 'other'"):
        bind_config(ServiceBusConfig, {**ORIGINAL, "namespace": "other"})


def test_the_provider_process_does_not_refuse_the_original_config() -> None:
    """Before: exit 2, unknown config key 'resourceGroup'."""
    line = json.dumps({"command": "run", "config": ORIGINAL}).encode() + b"\n"
    proc = subprocess.run(
        ["dstream-servicebus"], input=line, capture_output=True, timeout=60, check=False
    )
    first = proc.stdout.splitlines()[0] if proc.stdout else b""
    assert b"unknown config key" not in proc.stdout + proc.stderr, proc.stderr
    assert json.loads(first)["status"] in ("ready", "error"), proc.stdout
    assert b"resourceGroup" not in first

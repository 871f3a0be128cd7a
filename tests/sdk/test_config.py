"""Binding a provider's config: in-process for the binder's rules, through a real
provider process for what dstream sees (the handshake error line and exit code)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional

import pytest

from dstream.errors import ConfigError
from dstream.sdk import ProviderConfig, bind_config
from tests.sdk.conftest import command, run


@dataclass
class Tls(ProviderConfig):
    ca_file: str
    verify: bool = True


@dataclass
class Route(ProviderConfig):
    table: str
    queue: Optional[str] = None


@dataclass
class Sample(ProviderConfig):
    url: str
    max_count: int = 0
    ratio: float = 1.0
    mode: Literal["fast", "safe"] = "safe"
    tls: Optional[Tls] = None
    routes: list[Route] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    output_format: str = field(default="simple", metadata={"aliases": ("style",)})

    def validate(self) -> None:
        if self.max_count < 0:
            raise ValueError("max_count must be 0 or more")


def bind(raw: dict) -> Sample:
    return bind_config(Sample, raw, provider="sample")


def test_snake_camel_and_kebab_keys_bind_to_the_same_field() -> None:
    for key in ("max_count", "maxCount", "MaxCount", "max-count"):
        assert bind({"url": "u", key: 7}).max_count == 7


def test_nested_blocks_lists_optionals_and_dicts() -> None:
    cfg = bind(
        {
            "url": "amqp://x",
            "tls": {"caFile": "/ca.pem"},
            "routes": [{"table": "orders", "queue": "q1"}, {"table": "items"}],
            "tags": {"team": "data"},
        }
    )
    assert cfg.tls == Tls(ca_file="/ca.pem", verify=True)
    assert cfg.routes == [Route("orders", "q1"), Route("items", None)]
    assert cfg.tags == {"team": "data"}
    assert bind({"url": "u", "tls": None}).tls is None


def test_terraform_style_conversions() -> None:
    cfg = bind(
        {"url": "u", "max_count": "12", "ratio": 2, "tls": {"ca_file": "c", "verify": "false"}}
    )
    assert cfg.max_count == 12 and cfg.ratio == 2.0 and cfg.tls is not None
    assert cfg.tls.verify is False
    assert bind({"url": 5}).url == "5"


def test_alias_from_field_metadata() -> None:
    assert bind({"url": "u", "style": "json"}).output_format == "json"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"url": "u", "max_cuont": 1},
            "unknown config key 'max_cuont' for sample; known keys: url, max_count, ratio, "
            "mode, tls, routes, tags, output_format (did you mean 'max_count'?)",
        ),
        ({}, "missing required config key 'url' for sample"),
        (
            {"url": "u", "max_count": "many"},
            "config key 'max_count' for sample must be an integer, got a string \"many\"",
        ),
        (
            {"url": "u", "max_count": True},
            "config key 'max_count' for sample must be an integer, got a boolean true",
        ),
        (
            {"url": "u", "mode": "fsat"},
            "config key 'mode' for sample must be one of 'fast', 'safe', "
            "got a string \"fsat\" (did you mean 'fast'?)",
        ),
        (
            {"url": "u", "tls": {"verify": True}},
            "missing required config key 'tls.ca_file' for sample",
        ),
        (
            {"url": "u", "tls": {"ca_file": "c", "verfy": True}},
            "unknown config key 'tls.verfy' for sample",
        ),
        (
            {"url": "u", "routes": [{"table": 1}, {"queue": "q"}]},
            "missing required config key 'routes[1].table' for sample",
        ),
        (
            {"url": "u", "routes": {"table": "t"}},
            "config key 'routes' for sample must be a list, got an object",
        ),
        ({"url": "u", "max_count": -1}, "invalid config for sample: max_count must be 0 or more"),
        (
            {"url": "u", "maxCount": 1, "max_count": 2},
            "config key 'max_count' for sample is given twice, as 'maxCount' and as 'max_count'",
        ),
    ],
)
def test_errors_say_what_and_where(raw: dict, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        bind(raw)
    assert caught.value.reason.startswith(message), caught.value.reason


def test_unknown_key_reaches_dstream_as_the_handshake_error() -> None:
    result = run("counter", command({"intervall": 5}))
    assert result.returncode == 2
    assert result.objects == [
        {
            "status": "error",
            "message": "unknown config key 'intervall' for counter; known keys: interval, "
            "max_count, tables, checkpoint_every (did you mean 'interval'?) "
            "(remove it, or name one of counter's keys)",
        }
    ]
    assert any("intervall" in rec["msg"] for rec in result.logs if rec["level"] == "error")


@pytest.mark.parametrize(
    ("provider", "config", "needle"),
    [
        ("counter", {"interval": "fast"}, "config key 'interval' for counter must be an integer"),
        ("counter", {"tables": "orders"}, "config key 'tables' for counter must be a list"),
        ("counter", {"max_count": -3}, "config key 'max_count' for counter must be at least 0"),
        ("console", {"format": "fancy"}, "must be one of 'simple', 'json', 'structured'"),
        ("file", {}, "missing required config key 'path' for file"),
        ("file", {"path": "out/{table}.jsonl"}, "placeholder other than {TableName}"),
    ],
)
def test_config_type_errors_fail_the_handshake(provider: str, config: dict, needle: str) -> None:
    result = run(provider, command(config))
    assert result.returncode == 2
    assert len(result.objects) == 1
    assert result.handshake["status"] == "error"
    assert needle in result.handshake["message"]


def test_camel_case_keys_from_the_original_providers() -> None:
    result = run("counter", command({"interval": 0, "maxCount": 3, "checkpointEvery": 0}))
    assert result.returncode == 0, result.stderr
    assert [f["data"]["value"] for f in result.after_handshake if "data" in f] == [1, 2, 3]
    console = run("console", command({"outputFormat": "json"}) + b'{"data":1,"metadata":{}}\n')
    assert console.returncode == 0, console.stderr
    assert console.after_handshake == [{"data": 1, "metadata": {}}]


def test_a_bug_in_validate_is_the_handshake_error_with_its_traceback_on_stderr() -> None:
    """A KeyError or AttributeError in validate() is a bug, not a config the user can
    fix: reported as open()'s failures are, never a bare traceback without a status."""
    assert run("sample:buggy_config", command({})).returncode == 0
    result = run("sample:buggy_config", command({"bug": True}))
    assert result.returncode == 1
    assert result.objects == [
        {"status": "error", "message": "buggy could not start: KeyError: 'missing'"}
    ]
    failure = next(r for r in result.logs if r["level"] == "error" and "traceback" in r)
    assert "validate" in failure["msg"] and "buggy_config.py" in failure["traceback"]


def test_config_error_is_importable_from_the_sdk() -> None:
    """docs/providers.md: everything a provider uses comes from dstream.sdk, and
    validate() raises ConfigError."""
    import dstream.sdk

    assert "ConfigError" in dstream.sdk.__all__
    assert dstream.sdk.ConfigError is ConfigError


@pytest.mark.parametrize("describe", [True, False])
def test_a_field_of_a_type_json_has_no_value_for_is_refused(describe: bool) -> None:
    """A datetime field: its schema said nothing (`{}`, so lint accepted anything) and a
    run asked for a datetime in HCL, which cannot hold one. The author is told instead."""
    env = {"DSTREAM_DESCRIBE": "1"} if describe else {}
    result = run("sample:unsupported_config", command({"since": "2024-01-01"}), env=env)
    assert result.returncode == 1
    (status,) = result.objects
    assert status["status"] == "error"
    message = status["message"]
    assert "config field 'since' of SinceConfig" in message
    assert "datetime" in message and "use str and parse it in validate()" in message
    assert "str, int, float, bool" in message

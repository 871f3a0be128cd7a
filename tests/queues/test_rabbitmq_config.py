"""dstream-rabbitmq's configuration mistakes, refused when the config is read: a typo
in `url` or `management_url` is a config error naming the key, with a hint, never a
traceback, and the URL it quotes never shows its password (the user did not mark a
URL written in the file sensitive, so only the provider can keep it back). No broker
is needed: the provider refuses before it connects."""

from __future__ import annotations

import urllib.parse

import pytest

from tests.workspace import Workspace

SECRET = "S3cretPW"


def rabbit_task(ws: Workspace, settings: str) -> None:
    """Task "t": three changes of dbo.Orders into dstream-rabbitmq configured by the HCL
    lines `settings`."""
    ws.counter_task(
        "t", "dstream-rabbitmq", settings, count=3, checkpoint_every=1, tables=["dbo.Orders"]
    )


URL_HINT = "write it as amqp://user:password@host:port/vhost"
MANAGEMENT_HINT = '"off" not to look for queues'
TLS_FILES_HINT = "ssl_options' ca_certs, certfile and keyfile name PEM files"
MISSING_CA = urllib.parse.quote(repr({"ca_certs": "/nonexistent/ca.pem"}), safe="")

# (key, value, what the error says of it, what its hint says); every value holds the
# password SECRET.
BAD_URLS = [
    ("url", "ampq://guest:S3cretPW@127.0.0.1:5672/%2F", "is not an AMQP URL", URL_HINT),
    (
        "url",
        "amqp://guest:S3cretPW@127.0.0.1:notaport/%2F",
        "is not a usable AMQP URL: Port could not be cast to integer value as 'notaport'",
        URL_HINT,
    ),
    ("url", "amqp://guest:S3cretPW@127.0.0.1:99999/%2F", "Port out of range 0-65535", URL_HINT),
    ("url", "amqp://guest:S3cretPW@[::1:5672/%2F", "Invalid IPv6 URL", URL_HINT),
    (
        "url",
        "amqp://guest:S3cretPW@127.0.0.1/%2F?heartbeat=abc",
        "Invalid heartbeat value 'abc'",
        URL_HINT,
    ),
    (
        "url",
        "amqp://guest:S3cretPW@127.0.0.1/%2F?bogus=1",
        "Unknown URL parameter: 'bogus'",
        URL_HINT,
    ),
    (
        "url",
        "amqp://guest:S3cretPW@127.0.0.1/%2F?ssl_options=nope",
        "is not a usable AMQP URL",
        URL_HINT,
    ),
    (
        "url",
        f"amqps://guest:S3cretPW@127.0.0.1/%2F?ssl_options={MISSING_CA}",
        "a file its ssl_options names cannot be used: No such file or directory",
        TLS_FILES_HINT,
    ),
    (
        "management_url",
        "htp://admin:S3cretPW@127.0.0.1:15672",
        "is not an HTTP URL",
        MANAGEMENT_HINT,
    ),
    (
        "management_url",
        "http://admin:S3cretPW@127.0.0.1:abc",
        "is not a usable URL: Port could not be cast to integer value as 'abc'",
        MANAGEMENT_HINT,
    ),
    ("management_url", "http://admin:S3cretPW@[::1:15672", "Invalid IPv6 URL", MANAGEMENT_HINT),
]


@pytest.mark.parametrize("key,value,says,hint", BAD_URLS)
@pytest.mark.parametrize("command", ["plan", "run"])
def test_a_bad_url_is_a_config_error_naming_the_key(
    ws: Workspace, command: str, key: str, value: str, says: str, hint: str
) -> None:
    rabbit_task(ws, f'{key} = "{value}"')
    done = ws.run(command, "t")
    assert done.returncode != 0
    masked = value.replace(SECRET, "***")
    assert f"{key} {masked!r}" in done.stderr, done.stderr
    assert says in done.stderr
    assert hint in done.stderr  # what to write instead
    assert "Traceback" not in done.stderr and "Error:" not in done.stderr, done.stderr
    assert SECRET not in done.stderr + done.stdout


def test_run_json_keeps_the_password_back_too(ws: Workspace) -> None:
    rabbit_task(ws, 'url = "ampq://guest:S3cretPW@127.0.0.1:5672/%2F"')
    code, doc, err = ws.run_json("run", "t")
    assert code != 0
    assert "ampq://guest:***@127.0.0.1:5672/%2F" in str(doc), doc
    assert SECRET not in str(doc) + err


@pytest.mark.parametrize(
    "setting,says",
    [
        (
            "heartbeat = -5",
            "config key 'heartbeat' for output 'dstream-rabbitmq' must be at least 0",
        ),
        (
            "max_message_bytes = 0",
            "config key 'max_message_bytes' for output 'dstream-rabbitmq' must be at least 1",
        ),
        ("blocked_timeout = 0", "blocked_timeout = 0 is not a time to wait"),
    ],
)
def test_a_number_out_of_range_is_a_config_error(ws: Workspace, setting: str, says: str) -> None:
    rabbit_task(ws, setting)
    done = ws.run("plan", "t")
    assert done.returncode != 0
    assert says in done.stderr, done.stderr
    assert "Traceback" not in done.stderr

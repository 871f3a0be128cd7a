"""A final review of the secret rules: a URI inside a text (JDBC, a sentence) gives its
password to the redactor and the digests as one that starts the text does; a libpq URI
with an unencoded "@" in its password loses all of it; "passPhrase" names a secret; a
usage error keeps the name of a `-var=NAME=VALUE`."""

from __future__ import annotations

import pytest

from dstream.cli.parsing import _shown_unknown
from dstream.config.connstr import embedded_secrets, is_secret_key, without_uri_password
from dstream.config.unsecret import MARK, without_secrets


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("jdbc:mysql://app:Hunter22pw@db/x", "Hunter22pw"),
        ("see amqp://u:S3cretpass@mq/", "S3cretpass"),
        ("jdbc:postgresql://app:Hunter22pw@db/x?ssl=true", "Hunter22pw"),
    ],
)
def test_a_uri_inside_a_text_gives_its_password(text: str, secret: str) -> None:
    assert secret in embedded_secrets(text)
    kept = without_secrets({"jdbc_url": text}, [])
    assert secret not in str(kept), kept


def test_a_libpq_uri_s_password_with_an_at_sign_is_masked_whole() -> None:
    assert without_uri_password("postgresql://app:Pass@word@db/x", MARK) == (
        f"postgresql://app:{MARK}@db/x"
    )


@pytest.mark.parametrize("name", ["passPhrase", "pass_phrase", "KEY_PASS_PHRASE"])
def test_a_pass_phrase_is_a_secret(name: str) -> None:
    assert is_secret_key(name)


def test_a_var_flag_with_its_assignment_in_one_word_keeps_the_name() -> None:
    assert _shown_unknown(["-var=a=b"]) == "-var=a=***"
    assert _shown_unknown(["--var=a=b", "--flag=x"]) == "--var=a=*** --flag=***"

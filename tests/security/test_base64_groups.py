"""A secret inside a longer base64 text (an HTTP Basic header: base64("user:" +
password)) is masked with the base64 groups that mix it with its neighbours: those
decode to its first and last characters, which masking only the groups made of the
secret alone left readable (`YXBwOlMz***ZA==`: "app:S3" ... "d"). A short secret (3 to
7 characters behind "app:") has at most one group of its own bytes alone, and was not
masked at all (`YXBwOlNlY3JldDc=`: "app:Secret7")."""

from __future__ import annotations

import base64

import pytest

from dstream.config.redact import REDACTED, Redactor
from tests.workspace import Workspace

SECRET = "S3cr3t-Basic-pw-d"
SHORT = ["abc", "pw3", "päß", "abcd", "x+/y~", "abcdef", "Secret7", "hunter22", "123456789"]
PREFIXES = ["", "a", "ap", "app:", "alice:", "bob:"]  # every alignment, twice
SUFFIXES = ["", "x", "xy", ":tail", "\n"]
ENCODERS = {"standard": base64.b64encode, "urlsafe": base64.urlsafe_b64encode}


def secret_bytes_left(shown: str, encoded: str, start: int, end: int) -> list[str]:
    """Which bytes of the secret (at `start`:`end` of the encoded text's input) the
    unmasked base64 around "***" in `shown` still decodes to: a kept group of four
    characters at offset 4k holds input bytes 3k to 3k+2."""
    head, masked, tail = shown.partition(REDACTED)
    assert masked, f"nothing masked: {shown}"
    assert encoded.startswith(head) and encoded.endswith(tail), shown
    cut_start, cut_end = len(head), len(encoded) - len(tail)
    left = []
    if cut_start % 4 or cut_start // 4 * 3 > start:  # a kept group holds a secret byte
        left.append(f"head {head!r}")
    if tail and (cut_end % 4 or cut_end // 4 * 3 < end):
        left.append(f"tail {tail!r}")
    return left


# Lengths 16 to 18, and every short length from 3 up (a 5-byte "päß").
@pytest.mark.parametrize("secret", [SECRET[:-1], SECRET, SECRET + "d", *SHORT])
@pytest.mark.parametrize("encoder", sorted(ENCODERS))
@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_no_base64_group_holding_a_byte_of_the_secret_is_left(
    secret: str, encoder: str, prefix: str, suffix: str
) -> None:
    """At every alignment, alone and inside a Basic header's text."""
    encoded = ENCODERS[encoder]((prefix + secret + suffix).encode()).decode()
    start = len(prefix.encode())
    end = start + len(secret.encode())
    wrapped = Redactor([secret]).text(f"Basic {encoded} end")
    assert wrapped.startswith("Basic ") and wrapped.endswith(" end"), wrapped
    for shown in (Redactor([secret]).text(encoded), wrapped[6:-4]):
        assert secret_bytes_left(shown, encoded, start, end) == [], shown
        assert shown.count(REDACTED) == 1, shown


def flipped(secret: bytes, bit: int) -> bytes:
    flip = bytearray(secret)
    flip[bit // 8] ^= 0x80 >> bit % 8
    return bytes(flip)


@pytest.mark.parametrize("secret", ["abc", "pw3x", "Secret7"])
@pytest.mark.parametrize("prefix", PREFIXES[:4])  # every alignment
def test_base64_differing_from_the_secret_in_any_one_bit_is_kept(secret: str, prefix: str) -> None:
    """Every bit of the secret is matched, those the groups at its ends share with
    the neighbours' bits too: a short secret's form is no looser than its plain text."""
    redactor = Redactor([secret])
    raw = secret.encode()
    for bit in range(8 * len(raw)):
        for encode in ENCODERS.values():
            encoded = encode(prefix.encode() + flipped(raw, bit) + b":tail").decode()
            assert redactor.text(encoded) == encoded, (bit, encoded)


def test_other_base64_is_kept_whole() -> None:
    """16 kB of base64 of other bytes: no short secret's form is found in it."""
    noise = bytes((i * 7919 + (i >> 3) * 104729) % 251 for i in range(12000))
    encoded = base64.b64encode(noise).decode()
    for secret in SHORT:
        assert secret.encode() not in noise
        assert Redactor([secret]).text(encoded) == encoded, secret


def test_the_neighbours_groups_are_kept() -> None:
    """Only the groups overlapping the secret go: a user name's whole groups stay."""
    encoded = base64.b64encode(b"administrator:" + SECRET.encode()).decode()
    shown = Redactor([SECRET]).text("Authorization: Basic " + encoded)
    assert shown.startswith("Authorization: Basic " + encoded[:16] + REDACTED), shown


def test_text_around_a_base64_run_is_kept() -> None:
    encoded = base64.b64encode(b"u:" + SECRET.encode()).decode()
    shown = Redactor([SECRET]).text(f"auth=[{encoded}] next")
    assert shown == f"auth=[{REDACTED}] next", shown


LEAKY = r"""
import base64, json, sys
cmd = json.loads(sys.stdin.readline())
basic = base64.b64encode(("app:" + cmd["config"]["pw"]).encode()).decode()
sys.stderr.write("Authorization: Basic " + basic + "\n")
sys.stderr.flush()
sys.exit(3)
"""


@pytest.mark.parametrize("secret", [SECRET, "abcdef", "Secret7", "pw3"])
def test_a_providers_basic_header_shows_no_character_of_the_password(
    ws: Workspace, secret: str
) -> None:
    ws.python_script("leaky.py", LEAKY)
    ws.config(
        """
        variable "pw" {
          sensitive = true
        }
        task "t" {
          input {
            provider_path = "./leaky.py"
            config { pw = var.pw }
          }
          output { provider_path = "dstream-null" }
        }
        """
    )
    done = ws.run("run", "t", env={"DSTREAM_VAR_pw": secret})
    said = done.stdout + done.stderr
    assert done.returncode == 1, said
    shown = said.split("Authorization: Basic ", 1)[1].split()[0]
    encoded = base64.b64encode(b"app:" + secret.encode()).decode()
    assert secret_bytes_left(shown, encoded, 4, 4 + len(secret)) == [], shown

"""Terraform's functions beyond the first few (regex, substr, flatten, setunion, pow,
csvdecode, sha256, ...) give Terraform's results and refuse what Terraform refuses, at
the call's file:line:col. Through `dstream show` and `dstream lint`, as a user runs
them: one `dstream show` per table.

Every expected value below is Terraform 1.11.4's: `terraform console` evaluated
`jsonencode([try(expression, "<error>"), ...])` over each table ("<error>": Terraform
refused the call). Not here: what dstream refuses on purpose where Terraform does not,
a result a double cannot hold (pow(10, 400) is +Inf there; an error here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.config.evaluated import ERROR, evaluated
from tests.workspace import dstream, json_document

STRINGS: list[tuple[str, Any]] = [
    ('regex("[a-z]+", "123abc456")', "abc"),
    ('regex("(\\\\d+)-(\\\\d+)", "a 10-20 b")', ["10", "20"]),
    ('regex("(?P<y>\\\\d{4})-(?P<m>\\\\d{2})", "on 2024-05-01")', {"m": "05", "y": "2024"}),
    ('regex("(a)|(b)", "b")', [None, "b"]),
    ('regex("(?P<a>x)?(?P<b>y)", "y")', {"a": None, "b": "y"}),
    ('regex("(?P<a>x)|(?P<a>y)", "y")', {"a": "y"}),
    ('regex("(?P<a>x)(y)", "xy")', ERROR),
    ('regex("z", "abc")', ERROR),
    ('regex("^$", "")', ""),
    ('regex("(?i)ABC", "xabcx")', "abc"),
    ('regex("\\\\w+$", "foo bar\\n")', ERROR),
    ('regex("a(?=b)", "ab")', ERROR),
    ('regexall("[a-z]+", "123abc456def")', ["abc", "def"]),
    ('regexall("a*", "baaac")', ["", "aaa", ""]),
    ('regexall("(\\\\d)(\\\\w)", "1a 2b 3")', [["1", "a"], ["2", "b"]]),
    (
        'regexall("(?P<k>\\\\w+)=(?P<v>\\\\w*)", "a=1 b= c=3")',
        [{"k": "a", "v": "1"}, {"k": "b", "v": ""}, {"k": "c", "v": "3"}],
    ),
    ('regexall("z", "abc")', []),
    ('regexall("", "ab")', ["", "", ""]),
    ('length(regexall("é", "éée"))', 2),
    ('substr("hello world", 1, 4)', "ello"),
    ('substr("hello", -3, -1)', "llo"),
    ('substr("hello", -3, 2)', "ll"),
    ('substr("hello", 0, -1)', "hello"),
    ('substr("hello", 10, 2)', ""),
    ('substr("hello", 5, 2)', ""),
    ('substr("hello", 4, 10)', "o"),
    ('substr("hello", -10, 2)', "he"),
    ('substr("hello", -10, 7)', "hello"),
    ('substr("hello", -1, 0)', "o"),
    ('substr("hello", 1, 0)', ""),
    ('substr("", 0, 1)', ""),
    ('substr("🇩🇪ab", 0, 1)', "🇩🇪"),
    ('substr("éx", 1, 1)', "x"),
    ('substr("hello", 1.5, 2)', ERROR),
    ('substr("hello", "1", "2")', "el"),
    ('trim("?!hello?!", "!?")', "hello"),
    ('trim("  a  ", "")', "  a  "),
    ('trim("abcba", "ab")', "c"),
    ('trimprefix("helloworld", "hello")', "world"),
    ('trimprefix("helloworld", "world")', "helloworld"),
    ('trimprefix("aaa", "a")', "aa"),
    ('trimsuffix("helloworld", "world")', "hello"),
    ('trimsuffix("a.txt.txt", ".txt")', "a.txt"),
    ('startswith("hello world", "hello")', True),
    ('startswith("hello world", "world")', False),
    ('startswith("", "")', True),
    ('endswith("hello world", "world")', True),
    ('endswith("hello", "")', True),
    ('strcontains("hello world", "o w")', True),
    ('strcontains("hello", "z")', False),
    ('title("hello world")', "Hello World"),
    ('title("hello-world_foo bar.baz 1abc éa àb")', "Hello-World_foo Bar.Baz 1abc Éa Àb"),
    ('title("HELLO")', "HELLO"),
    ('title("ǆa ßb")', "ǅa ßb"),
    ('chomp("hello\\n")', "hello"),
    ('chomp("hello\\r\\n\\n\\r")', "hello"),
    ('chomp("hello\\n\\nx")', "hello\n\nx"),
    ('chomp("\\n")', ""),
    ('indent(2, "a\\nb\\n\\nc\\n")', "a\n  b\n  \n  c\n  "),
    ('indent(0, "a\\nb")', "a\nb"),
    ('indent(-1, "a\\nb")', ERROR),
    ('strrev("hello")', "olleh"),
    ('strrev("🇩🇪a👍🏽")', "👍🏽a🇩🇪"),
    ('substr("a👍🏽b", 1, 1)', "👍🏽"),
    ('length("👍🏽")', 1),
    ('strrev("")', ""),
    ('formatlist("Hello, %s!", ["A", "B"])', ["Hello, A!", "Hello, B!"]),
    ('formatlist("%s=%d", ["a", "b"], [1, 2])', ["a=1", "b=2"]),
    ('formatlist("%s-%s", "x", ["a", "b"])', ["x-a", "x-b"]),
    ('formatlist("%s", "x")', ["x"]),
    ('formatlist("%s %s", ["a"], ["b", "c"])', ERROR),
    ('formatlist("%d", ["a"])', ERROR),
    ('formatlist("%s", [])', []),
    ('startswith(1, "1")', True),
    ('trimprefix(["a"], "a")', ERROR),
]

COLLECTIONS: list[tuple[str, Any]] = [
    ('flatten([["a", "b"], [], ["c"]])', ["a", "b", "c"]),
    ('flatten([[["a"]], "b", [[[]]]])', ["a", "b"]),
    ("flatten([])", []),
    ("flatten([1, [2, [3, [4]]]])", [1, 2, 3, 4]),
    ("flatten([{a = 1}, [{b = 2}]])", [{"a": 1}, {"b": 2}]),
    ('flatten("a")', ERROR),
    ("flatten([null, [null]])", [None, None]),
    ('distinct(["a", "b", "a", "c", "b"])', ["a", "b", "c"]),
    ('distinct([1, "1", 2])', ["1", "2"]),
    ("distinct([[1], [1], [2]])", [[1], [2]]),
    ("distinct([])", []),
    ('element(["a", "b", "c"], 1)', "b"),
    ('element(["a", "b", "c"], 5)', "c"),
    ('element(["a", "b", "c"], -1)', ERROR),
    ("element([], 0)", ERROR),
    ('element([1, "a"], 1)', "a"),
    ('element(["a"], 1.5)', ERROR),
    ('index(["a", "b", "c"], "b")', 1),
    ('index(["a", "b"], "z")', ERROR),
    ("index([1, 2, 3], 2)", 1),
    ('index([1, 2], "2")', ERROR),
    ("range(3)", [0, 1, 2]),
    ("range(1, 4)", [1, 2, 3]),
    ("range(1, 8, 2)", [1, 3, 5, 7]),
    ("range(0)", []),
    ("range(-3)", [0, -1, -2]),
    ("range(4, 1)", [4, 3, 2]),
    ("range(10, 5, -2)", [10, 8, 6]),
    ("range(0, 1, 0.25)", [0, 0.25, 0.5, 0.75]),
    ("range(0, 1, 0.1)", [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]),
    ("range(1, 0, 1)", ERROR),
    ("range(0, 1, -1)", ERROR),
    ("range(0, 1, 0)", ERROR),
    ("range(2000)", ERROR),
    ("range(1.5)", [0, 1]),
    ('zipmap(["a", "b"], [1, 2])', {"a": 1, "b": 2}),
    ('zipmap(["b", "a"], ["x", "y"])', {"a": "y", "b": "x"}),
    ('zipmap(["a", "a"], [1, 2])', {"a": 2}),
    ('zipmap(["a"], [1, 2])', ERROR),
    ("zipmap([], [])", {}),
    ('zipmap(["a", "b"], [1, "x"])', {"a": 1, "b": "x"}),
    ('slice(["a", "b", "c", "d"], 1, 3)', ["b", "c"]),
    ('slice(["a", "b"], 0, 0)', []),
    ('slice(["a", "b"], 2, 2)', []),
    ('slice(["a", "b"], 1, 3)', ERROR),
    ('slice(["a", "b"], -1, 1)', ERROR),
    ('slice(["a", "b"], 2, 1)', ERROR),
    ('sort(["c", "a", "b"])', ["a", "b", "c"]),
    ("sort([10, 9, 1])", ["1", "10", "9"]),
    ('sort(["b", "B", "a", "é", "_"])', ["B", "_", "a", "b", "é"]),
    ("sort([])", []),
    ('sort(["a", null])', ERROR),
    ("reverse([1, 2, 3])", [3, 2, 1]),
    ("reverse([])", []),
    ('reverse(["a", 1])', [1, "a"]),
    ('compact(["a", "", "b", null, "c"])', ["a", "b", "c"]),
    ("compact([])", []),
    ('compact([1, ""])', ["1"]),
    ('coalescelist(["a"], ["b"])', ["a"]),
    ('coalescelist([], ["b"])', ["b"]),
    ("coalescelist([], [])", ERROR),
    ('coalescelist(null, ["c"])', ERROR),
    ("one([])", None),
    ('one(["a"])', "a"),
    ('one(["a", "b"])', ERROR),
    ("one(null)", ERROR),
    ("sum([1, 2, 3])", 6),
    ("sum([0.1, 0.2])", 0.3),
    ('sum([1, "2"])', 3),
    ("sum([])", ERROR),
    ("sum([1.5, 2.5])", 4),
    ("alltrue([true, true])", True),
    ("alltrue([])", True),
    ("alltrue([true, false])", False),
    ('alltrue(["true", true])', True),
    ("anytrue([false, true])", True),
    ("anytrue([])", False),
    ("anytrue([false])", False),
    ("alltrue([1])", ERROR),
    ('setunion(["a", "b"], ["b", "c"])', ["a", "b", "c"]),
    ('setunion(["c"], ["a"], ["b", "a"])', ["a", "b", "c"]),
    ("setunion([1, 10], [2])", [1, 2, 10]),
    ('setunion([1], ["a"])', ["1", "a"]),
    ('setintersection(["a", "b"], ["b", "c"], ["b", "d"])', ["b"]),
    ('setintersection(["a"], ["b"])', []),
    ("setintersection([3, 1, 2], [2, 3])", [2, 3]),
    ('tolist(["a", "b"])', ["a", "b"]),
    ('tolist([1, "a"])', ["1", "a"]),
    ("tolist([1, [2]])", ERROR),
    ('toset(["b", "a", "b"])', ["a", "b"]),
    ("toset([3, 1, 2, 1])", [1, 2, 3]),
    ("toset([true, false, true])", [False, True]),
    ("tomap({b = 1, a = 2})", {"a": 2, "b": 1}),
    ('tomap({a = 1, b = "x"})', {"a": "1", "b": "x"}),
    ("tomap({a = 1, b = [1]})", ERROR),
    ('tolist("a")', ERROR),
    ('transpose({a = ["1", "2"], b = ["2", "3"]})', {"1": ["a"], "2": ["a", "b"], "3": ["b"]}),
    ("transpose({})", {}),
    ("transpose({a = []})", {}),
]

NUMBERS: list[tuple[str, Any]] = [
    ("abs(-12.5)", 12.5),
    ("abs(0)", 0),
    ("abs(-123456789012345678901234567890)", 123456789012345678901234567890),
    ("ceil(1.2)", 2),
    ("ceil(-1.2)", -1),
    ("ceil(5)", 5),
    ("floor(1.8)", 1),
    ("floor(-1.2)", -2),
    ("floor(5)", 5),
    ("max(1, 5, 3)", 5),
    ('max(1.5, "2")', 2),
    ("max()", ERROR),
    ("min(1, -5, 3)", -5),
    ("min(0.1, 0.2)", 0.1),
    ("max([1, 2]...)", 2),
    ("pow(2, 10)", 1024),
    ("pow(2, 0.5)", 1.4142135623730951),
    ("pow(2, -1)", 0.5),
    ("pow(2, 100)", 1267650600228229400000000000000),
    ("pow(3, 40)", 12157665459056929000),
    ("pow(0, 0)", 1),
    ("signum(-3)", -1),
    ("signum(0)", 0),
    ("signum(0.5)", ERROR),
    ('parseint("100", 10)', 100),
    ('parseint("FF", 16)', 255),
    ('parseint("ff", 16)', 255),
    ('parseint("-1010", 2)', -10),
    ('parseint("+7", 8)', 7),
    ('parseint("zZ", 62)', 2231),
    ('parseint("Z", 36)', 35),
    ('parseint("12", 2)', ERROR),
    ('parseint("", 10)', ERROR),
    ('parseint("0x1F", 16)', ERROR),
    ('parseint("1_000", 10)', ERROR),
    ('parseint("10", 1)', ERROR),
    ('parseint("10", 63)', ERROR),
    ('parseint("123456789012345678901234567890", 10)', 123456789012345678901234567890),
    ('parseint(" 1", 10)', ERROR),
]

ENCODING: list[tuple[str, Any]] = [
    ('base64encode("Hello World")', "SGVsbG8gV29ybGQ="),
    ('base64encode("")', ""),
    ('base64encode("é")', "w6k="),
    ('base64decode("SGVsbG8gV29ybGQ=")', "Hello World"),
    ('base64decode("SGVsbG8")', ERROR),
    ('base64decode("!!!")', ERROR),
    ('base64decode("/w==")', ERROR),
    ('base64decode("SGVs\\nbG8=")', "Hello"),
    ('base64decode("")', ""),
    ('urlencode("Hello World")', "Hello+World"),
    ('urlencode("a=b&c/d?é~_-.*")', "a%3Db%26c%2Fd%3F%C3%A9~_-.%2A"),
    ('urlencode("")', ""),
    ('csvdecode("a,b\\n1,2\\n3,4")', [{"a": "1", "b": "2"}, {"a": "3", "b": "4"}]),
    ('csvdecode("a,b\\r\\n1,2\\r\\n")', [{"a": "1", "b": "2"}]),
    ('csvdecode("a,b\\n\\n1,2\\n")', [{"a": "1", "b": "2"}]),
    ('csvdecode("a,b\\n\\"x,y\\",\\"q\\"\\"z\\"\\n")', [{"a": "x,y", "b": 'q"z'}]),
    ('csvdecode("a,b\\n\\"line1\\nline2\\",2\\n")', [{"a": "line1\nline2", "b": "2"}]),
    ('csvdecode("a,b\\n1\\n")', ERROR),
    ('csvdecode("a,b\\n1,2,3\\n")', ERROR),
    ('csvdecode("a,a\\n1,2\\n")', ERROR),
    ('csvdecode("")', ERROR),
    ('csvdecode("a,b")', []),
    ('csvdecode("a,b\\nx\\"y,2\\n")', ERROR),
    ('csvdecode("a,b\\n\\"x\\"y,2\\n")', ERROR),
    ('csvdecode("a,b\\n\\"x,2\\n")', ERROR),
    ('csvdecode("a\\n\\n")', []),
    ('csvdecode("a, b\\n 1 , 2\\n")', [{" b": " 2", "a": " 1 "}]),
    ('md5("hello")', "5d41402abc4b2a76b9719d911017c592"),
    ('sha1("hello")', "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"),
    ('sha256("hello")', "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"),
    (
        'sha512("hello")',
        "9b71d224bd62f3785d96d46ad3ea3d73319bfbc2890caadae2dff72519673ca72323c3d99ba5c11d7c7acc6e14b8c5da0c4663475c2e5c3adef46f73bcdec043",
    ),
    ('sha256("")', "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    ("md5(12)", "c20ad4d76fe97759aa27a0c99bff6710"),
    ('sha1("é")', "bf15be717ac1b080b4f1c456692825891ff5073d"),
    ('uuidv5("dns", "www.terraform.io")', "a5008fae-b28c-5ba5-96cd-82b4c53552d6"),
    ('uuidv5("url", "https://www.terraform.io/")', "9db6f67c-dd95-5ea0-aa5b-e70e5c5f7cf5"),
    ('uuidv5("oid", "1.2.3")', "42d5e23b-3a02-5135-85c6-52d1102f1f00"),
    ('uuidv5("x500", "cn=x")', "a951fb6d-5aab-5a72-8e2e-9aa8df8d1f8f"),
    (
        'uuidv5("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "www.terraform.io")',
        "a5008fae-b28c-5ba5-96cd-82b4c53552d6",
    ),
    (
        'uuidv5("{6ba7b810-9dad-11d1-80b4-00c04fd430c8}", "x")',
        "05b16a01-46c6-56dd-bd6e-c6dfb4a1427a",
    ),
    ('uuidv5("6ba7b8109dad11d180b400c04fd430c8", "x")', "05b16a01-46c6-56dd-bd6e-c6dfb4a1427a"),
    (
        'uuidv5("urn:uuid:6ba7b810-9dad-11d1-80b4-00c04fd430c8", "x")',
        "05b16a01-46c6-56dd-bd6e-c6dfb4a1427a",
    ),
    ('uuidv5("bogus", "x")', ERROR),
    ('uuidv5("DNS", "x")', ERROR),
]


TABLES = {"strings": STRINGS, "collections": COLLECTIONS, "numbers": NUMBERS, "encoding": ENCODING}


def same(got: Any, want: Any) -> bool:
    """Equal as JSON values; a number as a double when either is one (Terraform writes
    2^100's double with all its digits, dstream with an exponent)."""
    if isinstance(got, list) and isinstance(want, list):
        return len(got) == len(want) and all(map(same, got, want))
    if isinstance(got, dict) and isinstance(want, dict):
        return got.keys() == want.keys() and all(same(got[k], want[k]) for k in got)
    numbers = (int, float)
    if isinstance(got, numbers) and isinstance(want, numbers) and not isinstance(got, bool):
        return (
            not isinstance(want, bool) and float(got) == float(want)
            if (isinstance(got, float) or isinstance(want, float))
            else got == want
        )
    return type(got) is type(want) and got == want


@pytest.fixture(scope="module")
def shown(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    return {
        name: evaluated(tmp_path_factory.mktemp(name), [expression for expression, _ in rows])
        for name, rows in TABLES.items()
    }


CASES = [(name, i, row) for name, rows in TABLES.items() for i, row in enumerate(rows)]


@pytest.mark.parametrize(("table", "index", "row"), CASES, ids=[row[0] for _, _, row in CASES])
def test_a_function_gives_what_terraform_gives(
    shown: dict[str, dict[str, Any]], table: str, index: int, row: tuple[str, Any]
) -> None:
    got = shown[table].get(f"c{index}", "<missing>")
    assert same(got, row[1]), got


def test_what_terraform_refuses_is_an_error_at_the_call(tmp_path: Path) -> None:
    """Each refused call is a configuration error at its file:line:col, naming the
    function, with a hint."""
    refused = [expression for _, _, (expression, want) in CASES if want == ERROR]
    lines = [f"  r{i} = {expression}" for i, expression in enumerate(refused)]
    config = tmp_path / "dstream.hcl"
    config.write_text("locals {\n" + "\n".join(lines) + "\n}\n")
    done = dstream("lint", "--json", "-c", str(config), without="DSTREAM_")
    assert done.returncode == 2, done.stderr
    errors = {d["line"]: d for d in json_document(done)["diagnostics"] if d["severity"] == "error"}
    for i, expression in enumerate(refused):
        error = errors.get(i + 2)  # line 1 is `locals {`
        assert error is not None, f"{expression} was not refused"
        assert error["column"] == len(f"  r{i} = ") + 1, error  # the call's
        name = expression[: expression.index("(")]
        assert f"{name}()" in error["message"], error
        assert "unknown function" not in error["message"], error  # refused by the call
        assert error["hint"], error


SECRET_CONFIG = """variable "pw" { sensitive = true }
task "t" {
  input {
    provider_path = "/bin/cat"
    config = {
      a = base64encode(var.pw)
      b = trimprefix(var.pw, "x")
      c = sha256(var.pw)
      d = regexall("[a-z]+", var.pw)
      e = substr(var.pw, 0, 6)
      f = formatlist("<%s>", [var.pw])
    }
  }
  output { provider_path = "/bin/cat" }
}
"""


def test_a_value_computed_from_a_sensitive_one_is_masked(tmp_path: Path) -> None:
    import base64
    import hashlib

    secret = "xhunter22swordfish"
    derived = {
        "a": base64.b64encode(secret.encode()).decode(),
        "b": secret[1:],
        "c": hashlib.sha256(secret.encode()).hexdigest(),
        "d": ["xhunter", "swordfish"],
        "e": secret[:6],
        "f": [f"<{secret}>"],
    }
    config = tmp_path / "dstream.hcl"
    config.write_text(SECRET_CONFIG)
    env = {"DSTREAM_VAR_pw": secret}
    shown = dstream("show", "t", "--show-secrets", "-c", str(config), env=env, without="DSTREAM_")
    assert json_document(shown)["input"]["config"] == derived  # what is masked below
    done = dstream("show", "t", "-c", str(config), env=env, without="DSTREAM_")
    assert done.returncode == 0, done.stderr
    assert json_document(done)["input"]["config"] == {
        "a": "***",
        "b": "***",
        "c": "***",
        "d": ["***", "***"],
        "e": "***",
        "f": ["***"],
    }
    for value in derived.values():
        for text in value if isinstance(value, list) else [value]:
            assert text not in done.stdout + done.stderr

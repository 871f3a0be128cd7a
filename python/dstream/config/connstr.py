"""Names and connection strings: which keys name a secret, and what a connection string
holds that is secret or that names the source. The one reader of both, below the
redactor (config/redact.py, which masks what these find), the input digest
(runtime/resume.py, which keeps what names the source) and the postgres state and CDC
(which refuse a URI libpq would misread).
"""

from __future__ import annotations

import re

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

# Shorter values are no secret worth the name, and masking them would mangle all output
# (here, below both the redactor and config/encodings.py, which it loads only once a
# process has secrets).
MIN_SECRET_LENGTH = 3

# -- keys -----------------------------------------------------------------------------------

_SUBSTRINGS = ("password", "passwd", "secret", "token", "credential", "connectionstring", "connstr")
_KEY_WORDS = {"key", "apikey", "dsn", "pwd"}
# Every pattern of this module is compiled on first use (re keeps it), not at import:
# a plain run uses few of them, and each compile costs ~0.6 M instructions of every
# start (issue 22).
_WORD = r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])"


# Words that name a credential as the last word of a name (DB_PASS, passphrase, AUTHZ,
# sas, sig, private_key_pem, Authorization, bearer, a Cookie header: an HTTP session is
# as good as a password), and pairs that do as its last two words (private_key,
# auth_header, passPhrase). Only last: before it, such a word says what the name is
# about (auth_source, pass_through, sig_alg, SSH_AUTH_SOCK hold no credential).
_SECRET_WORDS = frozenset(
    {
        "pass", "passphrase", "auth", "authz", "authn", "oauth", "authorization", "sas", "sig",
        "pem", "bearer", "cookie", "cookies",
    }
)  # fmt: skip
_SECRET_PAIRS = frozenset({("private", "key"), ("auth", "header"), ("pass", "phrase")})
# Last words that make a name about a credential rather than one (secret_name,
# TOKEN_URL, password_file, token_type, session_token_ttl, PASSWORD_AUTH_ENABLED): a
# credential word before them does not make the value secret. Not "id" (Vault's
# secret_id is a credential) nor "header" (auth_header, token_header hold its value).
_ABOUT_WORDS = frozenset(
    {
        "name", "names", "arn", "url", "uri", "endpoint", "policy", "dir", "path", "file",
        "type", "ttl", "size", "enabled", "required", "mode", "method", "expiry", "expires",
        "length", "count", "format",
    }
)  # fmt: skip


def may_name_secret(text: str) -> bool:
    """Whether `text` holds a word `is_secret_key` could take, read without a pattern:
    most texts (an environment's values) hold none and compile nothing."""
    lowered = text.lower()
    if any(word in lowered for word in _LITERAL_WORDS):
        return True
    flat = _flat(text)
    return any(part in flat for part in _FLAT_WORDS)


def _flat(key: str) -> str:
    """`key` lower-cased, its ASCII letters and digits only: is_secret_key's flat form."""
    return "".join(filter(str.isalnum, key.lower().encode("ascii", "ignore").decode()))


def _may_be_secret_key(key: str) -> bool:
    """`is_secret_key`'s rules read without a pattern, taking more: a credential's word
    anywhere in the flat form, or one of the last words at its end (the last word of a
    name ends its ASCII letters and digits). passthrough, max_count: False."""
    flat = _flat(key)
    if flat in _KEY_WORDS or any(part in flat for part in _SUBSTRINGS):
        return True
    tail = "".join(filter(str.isalnum, key.encode("ascii", "ignore").decode())).lower()
    return tail.endswith(_LAST_WORDS)


def is_secret_key(key: str) -> bool:
    """password, DB_PASSWORD, apiKey, access_key, connectionString, dsn, DB_PASS,
    passPhrase, Authorization, sas, sig, private_key_pem, ... -> True."""
    if not _may_be_secret_key(key):
        return False
    flat = re.sub(r"[^a-z0-9]", "", key.lower())
    words = [w.lower() for w in re.findall(_WORD, key)]
    if not words:
        return False
    if any(part in flat for part in _SUBSTRINGS):
        return len(words) == 1 or words[-1] not in _ABOUT_WORDS
    if words[-1] in _SECRET_WORDS or tuple(words[-2:]) in _SECRET_PAIRS:
        return True
    # "key" alone or as the last word of a name (api_key, accessKey, private-key), but
    # not routing_key/partition_key-style names that are not secrets.
    last = words[-1]
    if last in _KEY_WORDS and (len(words) == 1 or words[-2] not in _NON_SECRET_KEY_PREFIXES):
        return True
    return flat in _KEY_WORDS


_NON_SECRET_KEY_PREFIXES = {
    "routing",
    "partition",
    "primary",
    "sort",
    "message",
    "row",
    "cache",
    "idempotency",
    "dedup",
    "shard",
    "hash",
    "foreign",
    "unique",
    "group",
}


# What the pre-checks look for: each word is_secret_key takes, as the last word of a key
# or in a text as written, and in the flat form (where a substring may span a
# separator: p_assword).
_LAST_WORDS = tuple(sorted({*_SECRET_WORDS, *_KEY_WORDS, *(pair[1] for pair in _SECRET_PAIRS)}))
_LITERAL_WORDS = tuple(sorted({*_LAST_WORDS, *_SUBSTRINGS}))
_FLAT_WORDS = (*_SUBSTRINGS, *_KEY_WORDS)


def is_connection_key(key: str) -> bool:
    """dsn, replica_dsn, connectionString, connstr, ...: a key whose value is a
    connection string, secret for what it may hold (`connection_secrets`)."""
    flat = re.sub(r"[^a-z0-9]", "", key.lower())
    last = [word.lower() for word in re.findall(_WORD, key)][-1:]
    return "connectionstring" in flat or "connstr" in flat or last == ["dsn"]


# password=... (or ADO.NET's pwd=) in a keyword DSN, a JDBC URL or a URI's query:
# quoted ('...') or up to a space, "&" or ";"
_PASSWORD_KEY = r"(?i)(?:password|passwd|\bpwd)\s*=\s*(?:'((?:[^'\\]|\\.)*)'?|([^\s&;]+))"
# The credentials of an Authorization header written in a text: any word after
# "Authorization:" and a scheme; in a text of the scheme and one word alone ("Bearer
# eyJ..."), only a credential-shaped one (16 or more characters of the token alphabet),
# not the word of "Token bucket" or "Basic setup".
_SCHEMES = ("bearer", "basic", "token", "digest")
_AUTHORIZATION = rf"(?i)authorization\s*[:=]\s*(?:{'|'.join(_SCHEMES)})\s+([^\s\"',;]+)"
_BARE_CREDENTIALS = rf"(?i)^\s*(?:{'|'.join(_SCHEMES)})\s+([A-Za-z0-9._~+/=-]{{16,}})\s*$"
# Key=value, the first part of a text or after ";", "&" or "?" (ADO.NET, Azure, a query).
_PAIR = r"(?:^|[;&?])\s*([^=;&?]+?)\s*=\s*([^;&]*)"
# The URI prefixes libpq takes (anything else is a keyword DSN to it).
_URI_PREFIXES = ("postgresql://", "postgres://")
AMBIGUOUS_DSN = (
    'is a postgresql:// URI with an unencoded "@" or "/" in its user name or password: '
    "libpq would read the rest of the password as the host name, and show it in its errors"
)
AMBIGUOUS_DSN_HINT = "percent-encode @ as %40 (and / as %2F) in the URI's user name and password"
# For a DSN libpq cannot parse (the state store's and dstream-postgres-cdc's): libpq's
# own message quotes the piece it stopped at, which can be part of the password.
UNPARSEABLE_DSN = (
    "is not a valid libpq connection string or postgres:// URL (libpq's message is not "
    "shown: it quotes part of the string, which may be the password)"
)
UNPARSEABLE_DSN_HINT = (
    "write key=value pairs separated by spaces, with a value holding spaces or quotes in "
    "single quotes (password='two words'); in a URL, percent-encode such characters "
    "(%20 for a space)"
)


def dsn_passwords(dsn: str) -> list[str]:
    """The password a DSN holds, read from its text alone (without libpq, whose driver
    takes a third of a second to import): as written, and as libpq decodes it (a URI's
    percent-encoding, a keyword value's backslashes)."""
    from urllib.parse import unquote

    found = []
    lowered = dsn.lower()
    keyed = "pass" in lowered or "pwd" in lowered  # what _PASSWORD_KEY needs: compiles none
    for match in re.finditer(_PASSWORD_KEY, dsn) if keyed else ():
        quoted, bare = match.group(1), match.group(2)
        written = quoted if quoted is not None else bare
        found += [written, re.sub(r"\\(.)", r"\1", written), unquote(written)]
    for userinfo in _userinfos(dsn):  # user:password@ in a URI
        written = userinfo.partition(":")[2]
        found += [written, unquote(written)]
    return list(dict.fromkeys(secret for secret in found if secret))


# A URI's start, in a text or inside another (jdbc:postgresql://...)
_SCHEME = r"[A-Za-z][A-Za-z0-9+.-]*://"


def _userinfos(text: str) -> list[str]:
    """The user information of the first URI in `text`: what comes between "://" and
    the netloc's last "@" (the netloc ends at the first "/", "?" or "#"); of a libpq URI
    also as libpq reads it (up to the first "@") and the widest reading (up to the last
    "@" before the query: a password with an unencoded "/" or "@"). None of an IPv6
    host in brackets ("http://[::1]:8080/x?next=a:b@c")."""
    scheme = re.search(_SCHEME, text) if "://" in text else None
    if scheme is None:
        return []
    rest = text[scheme.end() :]
    found = []
    netloc = re.match(r"[^/?#]*", rest)
    if netloc and "@" in netloc.group():
        found.append(netloc.group().rpartition("@")[0])
    if scheme.group().lower() in _URI_PREFIXES:
        head = rest.partition("?")[0]
        found += [head.partition("@")[0], head.rpartition("@")[0]] if "@" in head else []
    return [userinfo for userinfo in dict.fromkeys(found) if not userinfo.startswith("[")]


def _widest(readings: list[str]) -> str:
    """The widest of `_userinfos`' readings (of a libpq URI with an unencoded "@" in its
    password, the one that holds all of it); "" when none."""
    return max(readings, key=len, default="")


def connection_secrets(text: str) -> list[str]:
    """What a connection string holds that is secret: its password (`dsn_passwords`),
    and the value of each `Key=value` part a secret-looking key names, as in
    `Endpoint=sb://...;SharedAccessKey=...` or `...;Password=...` (`;`, `&` or `?`
    before each)."""
    named = "=" in text and may_name_secret(text)  # what _PAIR needs: compiles none
    pairs = [
        value.strip().strip("'\"")
        for key, value in (re.findall(_PAIR, text) if named else ())
        if is_secret_key(key.strip())
    ]
    return list(dict.fromkeys([*dsn_passwords(text), *(value for value in pairs if value)]))


def embedded_secrets(text: str) -> list[str]:
    """What any text holds that is secret whatever key it is under: what a connection
    string holds (`connection_secrets`: the password of a URI anywhere in it, as in
    `jdbc:mysql://...`, `password=`, `Pwd=`, a `;`/`?`/`&` pair a secret-looking key
    names, as `sig=` of an Azure SAS URL), and the credentials of an Authorization
    header ("Bearer ..."). Each pattern runs only where a literal it needs is found."""
    found = connection_secrets(text) if "=" in text or "://" in text else []
    lowered = text.lower()
    if "authorization" in lowered:
        found += re.findall(_AUTHORIZATION, text)
    if any(scheme in lowered for scheme in _SCHEMES):
        found += re.findall(_BARE_CREDENTIALS, text)
    return list(dict.fromkeys(secret for secret in found if secret))


def dsn_secrets(dsn: str) -> list[str]:
    """The password a DSN holds, as written and as parsed (also when libpq cannot parse
    it: a message may quote the text), for the redactor and for deploy, which keeps it
    out of a ConfigMap. The one reader of DSNs, with `ambiguous_dsn`: the postgres state
    backend uses both, dstream-postgres-cdc the second."""
    found = dsn_passwords(dsn)
    try:
        from psycopg.conninfo import conninfo_to_dict

        found.append(str(conninfo_to_dict(dsn).get("password") or ""))
    except Exception:  # unparseable, or psycopg absent: what the text shows is all there is
        pass
    return [secret for secret in found if secret]


def ambiguous_dsn(dsn: str) -> bool:
    """Whether libpq would read part of a URI's password as its host: it takes the user
    name and password up to the first "@" (none when a "/" comes first), so an "@"
    after that and before the query means one was in the password (or user name), and
    what follows it would be quoted as the host name in every connection error."""
    prefix = next((p for p in _URI_PREFIXES if dsn.startswith(p)), None)
    if prefix is None:
        return False  # a keyword DSN: values end at a space or a quote, never at "@"
    rest = dsn[len(prefix) :]
    end = next((i for i, c in enumerate(rest) if c in "@/"), len(rest))
    if end < len(rest) and rest[end] == "@":
        rest = rest[end + 1 :]  # what libpq reads as host, port and database
    return "@" in rest.partition("?")[0]


# -- what names the source ----------------------------------------------------------------

# scheme://[userinfo@]host-and-path[?query]; userinfo up to the last "@", as libpq reads it
_URI = r"(?s)([A-Za-z][A-Za-z0-9+.-]*://)(?:(.*)@)?([^?]*)(?:\?(.*))?"
# key=value, one piece of a connection string; a key of words separated by spaces
# ("user id", "Initial Catalog")
_SOURCE_PAIR = r"(?s)\s*([A-Za-z][\w.-]*(?:\s+[\w.-]+)*)\s*=.*"
# The keys of a connection string that name the source rather than unlock it, normalised
# (names_source): libpq's, ADO.NET's, Service Bus's.
SOURCE_KEYS = frozenset(
    {
        "host",
        "hostaddr",
        "port",
        "dbname",
        "database",
        "server",
        "datasource",
        "initialcatalog",
        "address",
        "user",
        "userid",
        "uid",
        "username",
        "endpoint",
        "entitypath",
    }
)


def names_source(key: str) -> bool:
    """Whether a connection string's `key` names the source ("User ID", "dbname")."""
    return re.sub(r"[\s_-]", "", key).lower() in SOURCE_KEYS


def without_uri_password(text: str, mark: str) -> str:
    """`scheme://user:password@host...` with the password replaced by `mark` (of a
    libpq URI, as far as its widest reading: `_userinfos`)."""
    scheme = re.match(_SCHEME, text) if "://" in text else None
    userinfo = _widest(_userinfos(text)) if scheme else ""
    if scheme is None or ":" not in userinfo:
        return text
    user = userinfo.partition(":")[0]
    return f"{scheme.group()}{user}:{mark}{text[scheme.end() + len(userinfo) :]}"


def source_parts(text: str, mark: str) -> str:
    """A connection string with only what names the source kept, the rest replaced by
    `mark`: a URI's scheme, user, host, port and path (not its password) and the
    source pairs of its query; a `key=value` string's source pairs; `mark` alone when
    none is kept."""
    text = without_uri_password(text, mark)
    uri = re.fullmatch(_URI, text)
    if uri is None:
        return _source_pairs(text, ";" if ";" in text else None, mark) or mark
    if uri.group(4) is None:
        return text
    head = text[: uri.start(4) - 1]
    return f"{head}?{_source_pairs(uri.group(4), '&', mark) or mark}"


def _source_pairs(text: str, separator: Optional[str], mark: str) -> Optional[str]:
    """`text` split at `separator` (None: white space), each piece kept when it is a
    pair whose key names the source, else replaced by `mark`; None when none is kept."""
    pattern = r"(\s+)" if separator is None else f"({re.escape(separator)})"
    pieces = re.split(pattern, text)
    kept = False
    for index in range(0, len(pieces), 2):  # odd indexes: the separators
        pair = re.fullmatch(_SOURCE_PAIR, pieces[index])
        if pair and names_source(pair.group(1)):
            kept = True
        elif pieces[index]:
            pieces[index] = mark
    return "".join(pieces) if kept else None

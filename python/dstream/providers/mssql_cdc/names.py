"""SQL Server names: `schema.table`, `table`, `[My Schema].[Order Lines]`; the connection
string in ADO.NET form or as a URL."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlparse


def parse_table_name(text: str, default_schema: str = "dbo") -> tuple[str, str]:
    parts: list[str] = []
    pos, text = 0, text.strip()
    while pos < len(text):
        if text[pos] == "[":
            end = text.find("]", pos)
            while end >= 0 and text[end + 1 : end + 2] == "]":  # ]] escapes ]
                end = text.find("]", end + 2)
            if end < 0:
                raise ValueError(f"table name {text!r}: unterminated '['")
            parts.append(text[pos + 1 : end].replace("]]", "]"))
            pos = end + 1
        else:
            end = text.find(".", pos)
            end = len(text) if end < 0 else end
            parts.append(text[pos:end].strip())
            pos = end
        if pos < len(text):
            if text[pos] != ".":
                raise ValueError(f"table name {text!r}: expected '.' at offset {pos}")
            pos += 1
            if pos == len(text):
                raise ValueError(f"table name {text!r} ends with '.'")
    if len(parts) == 1:
        parts.insert(0, default_schema)
    if len(parts) != 2 or not all(parts):
        raise ValueError(f"table name {text!r}: write schema.table or a bare table name")
    return parts[0], parts[1]


def quote_name(name: str) -> str:
    return "[" + name.replace("]", "]]") + "]"


def sql_string(text: str) -> str:
    return "N'" + text.replace("'", "''") + "'"


_ADO_KEYS = {
    "server": "server",
    "data source": "server",
    "address": "server",
    "addr": "server",
    "database": "database",
    "initial catalog": "database",
    "user id": "user",
    "uid": "user",
    "user": "user",
    "password": "password",
    "pwd": "password",
    "port": "port",
    "connection timeout": "login_timeout",
    "connect timeout": "login_timeout",
}


def parse_connection_string(text: str) -> dict[str, Any]:
    """pymssql.connect() keyword arguments from `server=h,1433;database=d;user id=u;
    password=p` (ADO.NET, the original's form) or `sqlserver://u:p@h:1433/d`."""
    args: dict[str, Any] = {}
    if "://" in text:
        url = urlparse(text)
        args["server"] = url.hostname or "localhost"
        if url.port:
            args["port"] = url.port
        if url.username:
            args["user"] = unquote(url.username)
        if url.password:
            args["password"] = unquote(url.password)
        if url.path.strip("/"):
            args["database"] = unquote(url.path.strip("/"))
        return args
    for part in text.split(";"):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"connection string part {part!r} is not key=value")
        name = _ADO_KEYS.get(key.strip().lower())
        if name is None:
            continue  # Encrypt, TrustServerCertificate, ...: FreeTDS decides those
        args[name] = value.strip()
    server = str(args.get("server", ""))
    if server.startswith("tcp:"):
        server = server[4:]
    if "," in server:  # ADO.NET host,port
        server, port = server.split(",", 1)
        args["port"] = int(port)
    args["server"] = server or "localhost"
    if "port" in args:
        args["port"] = int(args["port"])
    if "login_timeout" in args:
        args["login_timeout"] = int(args["login_timeout"])
    return args

"""SQL Server names: `schema.table`, `table`, `[My Schema].[Order Lines]`; the connection
string in ADO.NET form or as a URL."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlparse

from dstream.providers import tables


def parse_table_name(text: str, default_schema: str = "dbo") -> tuple[str, str]:
    return tables.parse_table_name(text, default_schema, "[]")


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


def parse_connection_string(text: str) -> dict[str, Any]:  # Any: pymssql's keyword arguments
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

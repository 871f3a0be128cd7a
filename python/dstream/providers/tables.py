"""Table names as users write them in `tables`: `schema.table`, a bare `table`, or
quoted parts in the database's own syntax (`"My Schema"."Order Lines"` for PostgreSQL,
`[My Schema].[Order Lines]` for SQL Server), where a doubled closing quote is a literal
one and quoted parts may contain dots. The inputs read their `tables` with it, and the
queue outputs theirs (either quoting), so one list serves both."""

from __future__ import annotations

# Quote pairs, opening then closing: PostgreSQL's, SQL Server's, and either.
POSTGRES_QUOTES = '""'
SQLSERVER_QUOTES = "[]"
ANY_QUOTES = POSTGRES_QUOTES + SQLSERVER_QUOTES


def split_table_name(text: str, quotes: str) -> list[str]:
    """-> [table] or [schema, table], unquoted. `quotes` is one or more pairs of an
    opening and a closing quote character ('""', '[]', '""[]'). Raises ValueError
    saying what is wrong and where."""
    closing_of = {quotes[i]: quotes[i + 1] for i in range(0, len(quotes) - 1, 2)}
    parts: list[str] = []
    pos, text = 0, text.strip()
    while pos < len(text):
        closing = closing_of.get(text[pos])
        if closing is not None:
            end, chunk = pos + 1, []
            while True:
                if end >= len(text):
                    raise ValueError(f"table name {text!r}: unterminated {text[pos]!r}")
                if text[end] == closing:
                    if text[end + 1 : end + 2] == closing:  # doubled: a literal quote
                        chunk.append(closing)
                        end += 2
                        continue
                    break
                chunk.append(text[end])
                end += 1
            parts.append("".join(chunk))
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
    if len(parts) not in (1, 2) or not all(parts):
        raise ValueError(f"table name {text!r}: write schema.table or a bare table name")
    return parts


def parse_table_name(text: str, default_schema: str, quotes: str) -> tuple[str, str]:
    """-> (schema, table), `default_schema` for a bare name. `quotes` as for
    split_table_name. Raises ValueError saying what is wrong and where."""
    parts = split_table_name(text, quotes)
    if len(parts) == 1:
        if not default_schema:
            raise ValueError(f"table name {text!r}: write schema.table or a bare table name")
        parts.insert(0, default_schema)
    return parts[0], parts[1]


def format_table_name(schema: str, table: str, quotes: str = POSTGRES_QUOTES) -> str:
    """The name as `tables` would have it (bare without a schema): a part is quoted
    with the first pair of `quotes` when reading it bare would not give it back."""
    return ".".join(_quoted(part, quotes) for part in (schema, table) if part)


def _quoted(part: str, quotes: str) -> str:
    opening, closing = quotes[0], quotes[1]
    needs = "." in part or part != part.strip() or any(q in part for q in quotes)
    return opening + part.replace(closing, closing * 2) + closing if needs else part

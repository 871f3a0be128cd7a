"""Table names as users write them in `tables`: `schema.table`, a bare `table`, or
quoted parts in the database's own syntax (`"My Schema"."Order Lines"` for PostgreSQL,
`[My Schema].[Order Lines]` for SQL Server), where a doubled closing quote is a literal
one and quoted parts may contain dots."""

from __future__ import annotations


def parse_table_name(text: str, default_schema: str, quotes: str) -> tuple[str, str]:
    """-> (schema, table). `quotes` is the opening and closing quote character, e.g.
    '""' or '[]'. Raises ValueError saying what is wrong and where."""
    opening, closing = quotes[0], quotes[1]
    parts: list[str] = []
    pos, text = 0, text.strip()
    while pos < len(text):
        if text[pos] == opening:
            end, chunk = pos + 1, []
            while True:
                if end >= len(text):
                    raise ValueError(f"table name {text!r}: unterminated {opening!r}")
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
    if len(parts) == 1:
        parts.insert(0, default_schema)
    if len(parts) != 2 or not all(parts):
        raise ValueError(f"table name {text!r}: write schema.table or a bare table name")
    return parts[0], parts[1]

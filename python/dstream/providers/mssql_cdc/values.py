"""pymssql row values to typed JSON values (the original emitted every value as a
string). decimal/money: exact decimal text as a JSON string; datetime2/datetime: ISO-8601
(datetimeoffset keeps its offset); binary/varbinary/rowversion: base64; uniqueidentifier:
its canonical text; bit: boolean; NULL: null."""

from __future__ import annotations

import base64
import datetime
import decimal
import uuid
from typing import Optional, Union


def to_json_value(value: object) -> Union[bool, int, float, str, None]:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, decimal.Decimal):
        # Positional, never an exponent (str() writes 0E-8, 1.0E-7): the text a decimal
        # column holds, which any parser of plain decimals (SQL Server's too) reads.
        return format(value, "f")
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, uuid.UUID):
        return str(value).upper()  # SQL Server's own spelling
    return str(value)


def lsn_hex(value: Optional[bytes]) -> str:
    """binary(10) LSN / seqval as the original's lowercase hex (20 digits)."""
    return bytes(value).hex() if value is not None else ""

"""Bounds of the paging parameters every list endpoint takes.

An offset is a slice of a query: beyond a 64-bit integer the database driver raises
(SQLite ``OverflowError``, PostgreSQL "bigint out of range") and the answer was a server
error. Declared in the schema, a larger offset is a 422 like any invalid parameter, and
the OpenAPI document tells clients (and the fuzzer) the range.
"""

from ninja import Query
from pydantic import Field

# Far beyond any list (2 × 10⁸ students), far below 2⁶³.
MAX_OFFSET = 1_000_000_000


def offset_query():
    """``offset: int = offset_query()`` on an endpoint's parameters."""
    return Query(0, ge=0, le=MAX_OFFSET, description="跳过的条数（0 至 1,000,000,000）")


def offset_field():
    """``offset: int = offset_field()`` in a query schema."""
    return Field(0, ge=0, le=MAX_OFFSET, description="跳过的条数（0 至 1,000,000,000）")

"""Date and date-time inputs of the API, taken only as the OpenAPI document declares them.

Pydantic's lax mode reads a number as a Unix time: ``GET /api/rules?at=2.00001`` was
answered for 1970-01-01 and ``"cutoff": 0`` in a JSON body meant 1970-01-01, where the
document promises ``format: date`` / ``date-time`` strings (an outside fuzzer counted
them as invalid requests accepted). These annotated types refuse anything but the ISO
text (and ``date``/``datetime`` objects, for callers inside the process) with the usual
422 field error. A date-time may omit its UTC offset: it is then Shanghai time.
"""

import re
from datetime import date, datetime
from typing import Annotated

from pydantic import BeforeValidator

from xueji.i18n import gettext_lazy_str as _

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATE_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?([Zz]|[+-]\d{2}(:?\d{2})?)?"
)


def _iso_date(value: object) -> object:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _DATE.fullmatch(value.strip()):
        return value.strip()
    raise ValueError(str(_("日期应写作 YYYY-MM-DD（如 2025-09-01）")))


def _iso_date_time(value: object) -> object:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and _DATE_TIME.fullmatch(value.strip()):
        return value.strip()
    raise ValueError(
        str(_("时间应写作 ISO 8601 日期时间（如 2025-09-01T08:00:00+08:00；不带时区为北京时间）"))
    )


IsoDate = Annotated[
    date,
    BeforeValidator(_iso_date),
]
IsoDateTime = Annotated[
    datetime,
    BeforeValidator(_iso_date_time),
]


def _not_a_boolean(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError(str(_("应为整数，不能是 true/false")))
    return value


# An integer of a JSON body that is also a query parameter: pydantic's lax int takes
# true/false as 1/0 (the search endpoints' "limit": true was answered as limit 1).
Integer = Annotated[int, BeforeValidator(_not_a_boolean)]

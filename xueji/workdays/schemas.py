from datetime import date, datetime

from ninja import Schema

from xueji.api_types import IsoDate


class YearOut(Schema):
    year: int
    source: str
    notice: str
    loaded_at: datetime
    loaded_by: str
    days: int
    workdays: int
    holidays: int
    makeup_days: int


class DueOut(Schema):
    start: date
    n: int
    due: date


class HolidayIn(Schema):
    start: IsoDate
    end: IsoDate
    name: str


class YearLoadIn(Schema):
    year: int
    notice: str
    holidays: list[HolidayIn] = []
    makeup_days: list[IsoDate] = []
    replace: bool = False

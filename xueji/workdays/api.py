"""The working-day calendar over the API: the loaded years, a due date, loading a year."""

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Router, Status

from xueji.api_types import IsoDate
from xueji.errors import FieldError, ValidationFailed
from xueji.i18n import gettext_lazy_str as _lazy

from . import rules, selectors, services
from .permissions import access_calendar_view
from .schemas import DueOut, YearLoadIn, YearOut

router = Router(tags=[_lazy("工作日历")])

MAX_WORKDAYS = 1000


def year_of(summary: selectors.YearSummary) -> dict:
    return {
        "year": summary.year,
        "source": summary.source,
        "notice": summary.notice,
        "loaded_at": summary.loaded_at,
        "loaded_by": summary.loaded_by_username,
        "days": summary.days,
        "workdays": summary.workdays,
        "holidays": summary.holidays,
        "makeup_days": summary.makeup_days,
    }


@router.get(
    "/workdays/years",
    response=list[YearOut],
    summary=_lazy("已载入的工作日历年份（工作日、节假日、调休上班日天数）"),
)
def list_calendar_years(request: HttpRequest):
    access_calendar_view(request.auth)  # type: ignore[attr-defined]
    return [year_of(s) for s in selectors.year_summaries()]


@router.get(
    "/workdays/due",
    response=DueOut,
    summary=_lazy(
        "期限：start 之后第 n 个工作日（起算日不计入；年份未载入时 409 calendar.missing）"
    ),
)
def workdays_due(request: HttpRequest, start: IsoDate, n: int):
    access_calendar_view(request.auth)  # type: ignore[attr-defined]
    if not 0 <= n <= MAX_WORKDAYS:
        raise ValidationFailed(
            [
                FieldError(
                    "n",
                    "calendar.n_range",
                    _("工作日数须在 0 到 %(max)d 之间。") % {"max": MAX_WORKDAYS},
                    value=str(n),
                )
            ]
        )
    return {"start": start, "n": n, "due": selectors.due_date(start, n)}


@router.post(
    "/workdays/years",
    response={201: YearOut},
    summary=_lazy("按国务院办公厅通知载入某年工作日历（国家级；已载入的年份须 replace）"),
)
def load_calendar_year(request: HttpRequest, payload: YearLoadIn):
    """``holidays``: the notice's holiday periods (both ends included); ``makeup_days``:
    the weekend days worked. Errors name the item by its position (第 n 行)."""
    entry = services.calendar_year_load(
        actor=request.auth,  # type: ignore[attr-defined]
        year=payload.year,
        holidays=[
            rules.HolidayRange(h.start, h.end, h.name, line)
            for line, h in enumerate(payload.holidays, start=1)
        ],
        makeup_days=[
            rules.MakeupDay(day, line) for line, day in enumerate(payload.makeup_days, start=1)
        ],
        notice=payload.notice,
        replace=payload.replace,
    )
    return Status(201, year_of(selectors.year_calendar(entry.year).summary))

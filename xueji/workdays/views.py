"""Calendar pages: the loaded years, one year month by month, and loading a year.

Every authority account reads them; the load form is the national level's
(``permissions``). Each view parses, calls one selector or service, and renders.
"""

import calendar
from dataclasses import dataclass
from datetime import date

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from xueji import clock
from xueji.errors import Conflict, ValidationFailed
from xueji.web.views import page

from . import rules, selectors
from .forms import YearLoadForm
from .permissions import access_calendar_load, access_calendar_view, can_load_calendar
from .services import calendar_year_load


def _next_year(summaries: list[selectors.YearSummary]) -> int:
    """The year the load form offers: the one after the latest loaded."""
    return max((s.year for s in summaries), default=clock.today().year) + 1


@page
def years_view(request: HttpRequest) -> HttpResponse:
    access_calendar_view(request.user)
    summaries = selectors.year_summaries()
    can_load = can_load_calendar(request.user)
    form = YearLoadForm(initial={"year": _next_year(summaries)}) if can_load else None
    return render(
        request,
        "workdays/years.html",
        {"summaries": summaries, "form": form, "can_load": can_load},
    )


@page
def load_view(request: HttpRequest) -> HttpResponse:
    """GET: the form alone; POST: load the year, or show the errors line by line."""
    access_calendar_load(request.user)
    if request.method != "POST":
        form = YearLoadForm(initial={"year": _next_year(selectors.year_summaries())})
        return render(request, "workdays/load.html", {"form": form})
    form = YearLoadForm(request.POST)
    parsed = form.parsed() if form.is_valid() else None
    if parsed is not None:
        holidays, makeups = parsed
        try:
            entry = calendar_year_load(
                actor=request.user,
                year=form.cleaned_data["year"],
                holidays=holidays,
                makeup_days=makeups,
                notice=form.cleaned_data["notice"],
                replace=form.cleaned_data["replace"],
            )
        except ValidationFailed as error:
            form.add_field_errors(error.errors)
        except Conflict as conflict:
            form.add_error("replace", str(conflict.message))
        else:
            messages.success(request, _("已载入 %d 年工作日历。") % entry.year)
            return redirect("workdays:year", year=entry.year)
    return render(request, "workdays/load.html", {"form": form}, status=422)


@dataclass(frozen=True)
class Cell:
    day: date | None
    kind: str = ""  # "work", "rest", "holiday", "makeup"
    name: str = ""


def _months(year: int, days: list[rules.DayRow]) -> list[dict]:
    rows = {row.date: row for row in days}
    months = []
    for month in range(1, 13):
        weeks = []
        for week in calendar.Calendar(firstweekday=0).monthdatescalendar(year, month):
            cells = []
            for day in week:
                row = rows.get(day) if day.month == month else None
                if row is None:
                    cells.append(Cell(None))
                elif row.is_holiday:
                    cells.append(Cell(day, "holiday", row.name))
                elif row.is_makeup:
                    cells.append(Cell(day, "makeup", row.name))
                else:
                    cells.append(Cell(day, "work" if row.is_workday else "rest"))
            weeks.append(cells)
        months.append({"month": month, "weeks": weeks})
    return months


@page
def year_view(request: HttpRequest, year: int) -> HttpResponse:
    access_calendar_view(request.user)
    shown = selectors.year_calendar(year)
    return render(
        request,
        "workdays/year.html",
        {
            "shown": shown,
            "summary": shown.summary,
            "months": _months(year, shown.days),
            "can_load": can_load_calendar(request.user),
        },
    )

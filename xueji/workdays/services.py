"""Writing the working-day calendar: the national level loads a year from the notice."""

from collections.abc import Sequence
from datetime import date

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from xueji import clock
from xueji.audit.events import AuditAction, ObjectType
from xueji.audit.services import audit_record
from xueji.errors import Conflict, FieldError, ValidationFailed

from . import rules, selectors
from .models import CalendarDay, CalendarSource, CalendarYear
from .permissions import access_calendar_load

NOTICE_MAX = 200
# Changed dates listed in the audit event of a replacement (the count is always complete).
AUDIT_DATES_SHOWN = 60


def _notice_errors(notice: str) -> list[FieldError]:
    if not notice:
        return [
            FieldError(
                "notice",
                "calendar.notice_missing",
                _("请填写国务院办公厅节假日安排通知的标题或文号。"),
            )
        ]
    if len(notice) > NOTICE_MAX:
        return [
            FieldError(
                "notice",
                "calendar.notice_long",
                _("通知标题或文号最多 %(max)d 个字。") % {"max": NOTICE_MAX},
            )
        ]
    return []


def _already_loaded(year: int) -> Conflict:
    return Conflict(
        "calendar.year_loaded",
        _("%(year)d 年工作日历已载入；如需按新的通知更正，请选择“替换已载入的年度”。")
        % {"year": year},
        detail={"year": year},
    )


def calendar_year_load(
    *,
    actor,
    year: int,
    holidays: Sequence[rules.HolidayRange],
    makeup_days: Sequence[rules.MakeupDay | date],
    notice: str,
    replace: bool = False,
) -> CalendarYear:
    """Load (or, with ``replace``, reload) one year from the State Council notice.

    National level only. Every day of the year is written: the holidays' days off, the
    make-up working days (``MakeupDay`` or plain dates), and Monday to Friday worked
    otherwise. A year already loaded
    is refused (``calendar.year_loaded``) unless ``replace``; a replacement is audited
    with how many days changed.
    """
    access_calendar_load(actor)
    makeup_days = rules.as_makeup_days(makeup_days)
    notice = notice.strip()
    errors = _notice_errors(notice) + rules.notice_errors(year, holidays, makeup_days)
    if errors:
        raise ValidationFailed(errors, message=_("节假日安排有误，请按提示逐行更正。"))
    days = rules.notice_days(year, holidays, makeup_days)
    with transaction.atomic():
        entry = CalendarYear.objects.select_for_update().filter(year=year).first()
        if entry is not None and not replace:
            raise _already_loaded(year)
        previous = {"source": entry.source, "notice": entry.notice} if entry is not None else None
        changed = rules.days_changed(selectors.year_days(year), days) if entry else []
        now = clock.now()
        if entry is None:
            entry = CalendarYear(year=year)
        entry.source = CalendarSource.NOTICE
        entry.notice = notice
        entry.loaded_at = now
        entry.loaded_by_id = actor.pk
        entry.loaded_by_username = actor.username
        if previous is None:
            try:
                # A savepoint: a racing load of the same new year loses here, cleanly.
                with transaction.atomic():
                    entry.save(force_insert=True)
            except IntegrityError:
                raise _already_loaded(year) from None
        else:
            entry.save(
                update_fields=[
                    "source",
                    "notice",
                    "loaded_at",
                    "loaded_by_id",
                    "loaded_by_username",
                ]
            )
            CalendarDay.objects.filter(date__range=(days[0].date, days[-1].date)).delete()
        CalendarDay.objects.bulk_create(
            [CalendarDay(date=d.date, is_workday=d.is_workday, name=d.name) for d in days]
        )
        audit_record(
            actor=actor,
            action=AuditAction.CALENDAR_YEAR_REPLACE
            if previous
            else AuditAction.CALENDAR_YEAR_LOAD,
            object_type=ObjectType.CALENDAR_YEAR,
            object_id=year,
            summary=(  # stored data: always Chinese
                f"替换 {year} 年工作日历（{notice}），{len(changed)} 天有变化"
                if previous
                else f"载入 {year} 年工作日历（{notice}）"
            ),
            detail={
                "year": year,
                "notice": notice,
                "holidays": [
                    [h.start.isoformat(), h.end.isoformat(), h.name.strip()] for h in holidays
                ],
                "makeup_days": [m.day.isoformat() for m in makeup_days],
                "workdays": sum(d.is_workday for d in days),
                **(
                    {
                        "replaced": previous,
                        "changed_days": len(changed),
                        "changed": [d.isoformat() for d in changed[:AUDIT_DATES_SHOWN]],
                    }
                    if previous
                    else {}
                ),
            },
        )
    return entry

"""Early warnings over the API: the same selectors as the page."""

from datetime import date, datetime
from typing import Literal

from django.http import HttpRequest
from ninja import Query, Router, Schema

from xueji import clock
from xueji.accounts.permissions import require_permission
from xueji.i18n import gettext_lazy_str as _
from xueji.paging import offset_field

from .views import WARNING_PERMISSION, warning_rows
from .warnings import sees_area_warnings, warnings_for, warnings_in_scope

router = Router(tags=[_("预警")])


class WarningQuery(Schema):
    # mine: addressed to the caller's unit; area: every unit in the caller's subtree.
    tab: Literal["mine", "area"] = "mine"
    state: Literal["open", "resolved"] = "open"
    offset: int = offset_field()
    limit: int = 50


class WarningOut(Schema):
    id: int
    kind: str
    # The kind's title in the caller's language: what a person reads instead of the code.
    title: str
    unit_id: int
    unit_name: str
    role: str
    subject_type: str
    subject_id: str
    # What the warning is about, and its page: a step's warning names its change request.
    subject: str
    url: str
    message: str
    detail: dict
    due_date: date | None
    # Calendar days past the due date (0: not yet past); null without a due date.
    days_overdue: int | None
    raised_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None
    resolved_by: str
    resolved_reason: str


class WarningPage(Schema):
    count: int
    items: list[WarningOut]


@router.get(
    "/warnings",
    response=WarningPage,
    summary=_("预警（本单位，或辖区内各单位；未解除的最紧急者在前）"),
)
def list_warnings(request: HttpRequest, query: Query[WarningQuery]):
    user = request.auth  # type: ignore[attr-defined]
    require_permission(user, WARNING_PERMISSION)
    resolved = query.state == "resolved"
    area = query.tab == "area" and sees_area_warnings(user)
    select = warnings_in_scope if area else warnings_for
    qs = select(user, open_only=not resolved, resolved_only=resolved)
    offset = max(0, query.offset)
    rows = list(qs[offset : offset + max(1, min(query.limit, 500))])
    today = clock.today()
    return {
        "count": qs.count(),
        "items": [
            {
                "id": w.pk,
                "kind": w.kind,
                "title": row["title"],
                "unit_id": w.unit_id,
                "unit_name": w.unit.name,
                "role": w.role,
                "subject_type": w.subject_type,
                "subject_id": w.subject_id,
                "subject": row["subject"],
                "url": row["url"],
                "message": w.message,
                "detail": w.detail,
                "due_date": w.due_date,
                "days_overdue": row["days_overdue"],
                "raised_at": w.raised_at,
                "last_seen_at": w.last_seen_at,
                "resolved_at": w.resolved_at,
                "resolved_by": w.resolved_by_username,
                "resolved_reason": w.resolved_reason,
            }
            for row in warning_rows(rows, today)
            for w in [row["warning"]]
        ],
    }

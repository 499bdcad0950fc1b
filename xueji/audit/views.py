"""The early-warning page (预警) and the menu badge.

"本单位预警" lists the warnings addressed to the account's own unit; authorities also get
"辖区预警", every unit's warnings in their subtree. Both filter open or resolved.
"""

from datetime import date
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext_lazy as _

from xueji import clock
from xueji.accounts.permissions import has_permission, require_permission
from xueji.accounts.rules import Permission
from xueji.web.views import page

from .models import EarlyWarning
from .warnings import (
    days_overdue,
    kind_title,
    sees_area_warnings,
    warning_count,
    warnings_for,
    warnings_in_scope,
)

# What the subjects of warnings are called on the page; unknown types show as they are.
SUBJECT_LABELS: dict[str, Any] = {
    "changes.request": _("变动申请"),
    "changes.step": _("审批步骤"),
    "students.student": _("学生"),
    "enrolment.record": _("学籍"),
    "workdays.year": _("工作日历"),
    "verification.confirmation": _("学期核准"),
    "accounts.user": _("账号"),
    "schools.school": _("学校"),
    "network.address": _("来源地址"),
    "audit.trail": _("审计日志"),
}

# Status workers read the deadline warnings, security admins the security warnings
# (``warnings._visible_kinds``).
WARNING_PERMISSION = Permission.WARNING_VIEW


def subject_text(warning: EarlyWarning) -> str:
    label = SUBJECT_LABELS.get(warning.subject_type, warning.subject_type)
    detail = warning.detail or {}
    # A security warning's subject id carries its window: name the account or address.
    named = detail.get("username") or detail.get("address")
    if named:
        return f"{label} {named}"
    return f"{label} #{warning.subject_id}"


def subject_url(warning: EarlyWarning) -> str:
    """A raiser may put a page path in ``detail["url"]``; only same-site paths are linked."""
    url = (warning.detail or {}).get("url", "")
    if isinstance(url, str) and url.startswith("/") and not url.startswith("//"):
        return url
    return ""


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _step_requests(warnings: list[EarlyWarning]) -> dict[int, int]:
    """Step id → its change request, for step warnings that do not name the request in their
    detail (older rows): one query for the whole page."""
    wanted = {
        step_id
        for w in warnings
        if w.subject_type == "changes.step"
        and _int((w.detail or {}).get("request_id")) is None
        and (step_id := _int(w.subject_id)) is not None
    }
    if not wanted:
        return {}
    # Looked up by name: the warning module knows no app that raises warnings.
    step_model = apps.get_model("changes", "ApprovalStep")
    return dict(step_model.objects.filter(pk__in=wanted).values_list("pk", "request_id"))


def subjects(warnings: list[EarlyWarning]) -> dict[int, tuple[str, str]]:
    """Warning id → (what it is about, the page to open). A step's warning names and links
    its change request, not the step; a student's its record; otherwise the raiser's link."""
    step_requests = _step_requests(warnings)
    out: dict[int, tuple[str, str]] = {}
    for warning in warnings:
        text, url = subject_text(warning), subject_url(warning)
        subject_id = _int(warning.subject_id)
        request_id: int | None = None
        if warning.subject_type == "changes.step":
            request_id = _int((warning.detail or {}).get("request_id"))
            if request_id is None and subject_id is not None:
                request_id = step_requests.get(subject_id)
        elif warning.subject_type == "changes.request":
            request_id = subject_id
        if request_id is not None:
            text = f"{SUBJECT_LABELS['changes.request']} #{request_id}"
            url = reverse("changes:detail", args=[request_id])
        elif warning.subject_type == "students.student" and subject_id is not None and not url:
            url = reverse("students:detail", args=[subject_id])
        out[warning.pk] = (text, url)
    return out


def warning_rows(warnings: list[EarlyWarning], today: date) -> list[dict]:
    """What the page and the API show of each warning: its title (never the raw kind),
    its subject with a link, and the days past its due date (0 when not yet due; ``None``
    when the warning has no due date, such as a missing working-day calendar)."""
    linked = subjects(warnings)
    return [
        {
            "warning": warning,
            "title": kind_title(warning.kind),
            "subject": linked[warning.pk][0],
            "url": linked[warning.pk][1],
            "days_overdue": (
                days_overdue(warning.due_date, today) if warning.due_date is not None else None
            ),
        }
        for warning in warnings
    ]


@page
def warning_list(request: HttpRequest) -> HttpResponse:
    require_permission(request.user, WARNING_PERMISSION)
    area = request.GET.get("tab") == "area" and sees_area_warnings(request.user)
    resolved = request.GET.get("state") == "resolved"
    select = warnings_in_scope if area else warnings_for
    warnings = select(request.user, open_only=not resolved, resolved_only=resolved)
    page_obj = Paginator(warnings, settings.XUEJI["PAGE_SIZE"]).get_page(request.GET.get("page"))
    today = clock.today()
    return render(
        request,
        "audit/warnings.html",
        {
            "rows": warning_rows(list(page_obj.object_list), today),
            "page_obj": page_obj,
            "tab": "area" if area else "mine",
            "state": "resolved" if resolved else "open",
            "sees_area": sees_area_warnings(request.user),
        },
    )


def warning_badge(request: HttpRequest) -> dict:
    """Template context: the 预警 and 档案 menu entries, and the open-warning count, counted
    only when a page shows it."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not has_permission(user, WARNING_PERMISSION):
        return {}
    return {
        "nav_warnings": True,
        "nav_archives": has_permission(user, Permission.STUDENT_VIEW),
        "warning_count": SimpleLazyObject(lambda: warning_count(user)),
    }

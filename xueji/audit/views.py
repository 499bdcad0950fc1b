"""The early-warning page (预警) and the menu badge.

"本单位预警" lists the warnings addressed to the account's own unit; authorities also get
"辖区预警", every unit's warnings in their subtree. Both filter open or resolved.
"""

from typing import Any

from django.conf import settings
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext_lazy as _

from xueji import clock
from xueji.accounts.permissions import has_permission, require_permission
from xueji.accounts.rules import Permission
from xueji.web.views import page

from .models import EarlyWarning
from .warnings import (
    days_overdue,
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
}

# Warnings concern status work: those who read student records read them.
WARNING_PERMISSION = Permission.STUDENT_VIEW


def subject_text(warning: EarlyWarning) -> str:
    label = SUBJECT_LABELS.get(warning.subject_type, warning.subject_type)
    return f"{label} #{warning.subject_id}"


def subject_url(warning: EarlyWarning) -> str:
    """A raiser may put a page path in ``detail["url"]``; only same-site paths are linked."""
    url = (warning.detail or {}).get("url", "")
    if isinstance(url, str) and url.startswith("/") and not url.startswith("//"):
        return url
    return ""


def warning_row(warning: EarlyWarning, today) -> dict:
    return {
        "warning": warning,
        "subject": subject_text(warning),
        "url": subject_url(warning),
        "days_overdue": days_overdue(warning.due_date, today),
    }


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
            "rows": [warning_row(w, today) for w in page_obj.object_list],
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
        "nav_archives": True,
        "warning_count": SimpleLazyObject(lambda: warning_count(user)),
    }

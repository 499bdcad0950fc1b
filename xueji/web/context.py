"""Template context shared by every page: the signed-in account's unit and menu."""

from django.http import HttpRequest

from xueji.accounts.permissions import has_permission
from xueji.accounts.rules import Permission
from xueji.changes.selectors import queue_count
from xueji.workdays.permissions import can_view_calendar


def navigation(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    unit = getattr(user, "unit", None)
    can = {
        "students": has_permission(user, Permission.STUDENT_VIEW),
        "register": has_permission(user, Permission.STUDENT_REGISTER),
        "import": has_permission(user, Permission.STUDENT_IMPORT),
        "schools": has_permission(user, Permission.SCHOOL_VIEW),
        "school_edit": has_permission(user, Permission.SCHOOL_EDIT),
        "statistics": has_permission(user, Permission.STATISTICS_VIEW),
        "accounts": has_permission(user, Permission.ACCOUNT_MANAGE),
        "security": has_permission(user, Permission.SECURITY_MANAGE),
        # The audit admin (三员): the trail of its subtree (xueji/audit/trail.py).
        "audit": has_permission(user, Permission.AUDIT_VIEW),
    }
    # Status changes (xueji/changes): the list, filing, and the unit's review queue.
    can["changes"] = has_permission(user, Permission.CHANGE_VIEW)
    can["change_file"] = has_permission(user, Permission.CHANGE_FILE)
    can["change_queue"] = has_permission(user, Permission.CHANGE_HANDLE)
    can["batches"] = has_permission(user, Permission.STATUS_BATCH)
    can["dropouts"] = has_permission(user, Permission.DROPOUT_VIEW)
    can["calendar"] = can_view_calendar(user)
    # Semester confirmation (xueji/verification): campaigns, rolls and progress.
    can["campaigns"] = has_permission(user, Permission.CAMPAIGN_VIEW)
    # Anomalies (xueji/anomalies): the review queue; the quality figures for statisticians too.
    can["anomalies"] = has_permission(user, Permission.ANOMALY_VIEW)
    can["quality"] = can["anomalies"] or can["statistics"]
    # Clerks' workload: for staffing, shown to the system and security admins.
    can["workload"] = can["accounts"] or can["security"]
    # The import pages: students (clerks) or schools (accounts that maintain schools).
    can["imports"] = can["import"] or can["school_edit"]
    return {
        "current_unit": unit,
        "is_school_account": unit is not None and unit.school_id is not None,
        "can": can,
        "queue_count": queue_count(user) if can["change_queue"] else 0,
    }

"""Template context shared by every page: the signed-in account's unit and menu."""

from django.http import HttpRequest

from xueji.accounts.permissions import has_permission
from xueji.accounts.rules import Permission


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
    }
    # Clerks' workload: for staffing, shown to the system and security admins.
    can["workload"] = can["accounts"] or can["security"]
    # The import pages: students (clerks) or schools (accounts that maintain schools).
    can["imports"] = can["import"] or can["school_edit"]
    return {
        "current_unit": unit,
        "is_school_account": unit is not None and unit.school_id is not None,
        "can": can,
    }

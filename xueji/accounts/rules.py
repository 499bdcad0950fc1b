"""Permissions as a typed enum and what each role grants. Pure."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from .models import Role


class Permission(models.TextChoices):
    DIVISION_VIEW = "division.view", _("查看行政区划")
    SCHOOL_VIEW = "school.view", _("查看学校")
    SCHOOL_EDIT = "school.edit", _("维护学校")
    STUDENT_VIEW = "student.view", _("查看学生")
    STUDENT_REGISTER = "student.register", _("注册学生")
    STUDENT_IMPORT = "student.import", _("批量导入学生")
    STATISTICS_VIEW = "statistics.view", _("查看统计")
    ACCOUNT_MANAGE = "account.manage", _("管理账号")
    AUDIT_VIEW = "audit.view", _("查看审计日志")
    SCHEMA_FILE = "schema.file", _("备案非基础信息方案")


ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    Role.CLERK: frozenset(
        {
            Permission.DIVISION_VIEW,
            Permission.SCHOOL_VIEW,
            Permission.STUDENT_VIEW,
            Permission.STUDENT_REGISTER,
            Permission.STUDENT_IMPORT,
        }
    ),
    Role.REVIEWER: frozenset(
        {
            Permission.DIVISION_VIEW,
            Permission.SCHOOL_VIEW,
            Permission.SCHOOL_EDIT,
            Permission.STUDENT_VIEW,
            Permission.STATISTICS_VIEW,
            Permission.SCHEMA_FILE,
        }
    ),
    # Aggregates only, never personal data.
    Role.STATISTICIAN: frozenset(
        {Permission.DIVISION_VIEW, Permission.SCHOOL_VIEW, Permission.STATISTICS_VIEW}
    ),
    Role.SYSTEM_ADMIN: frozenset(
        {Permission.DIVISION_VIEW, Permission.SCHOOL_VIEW, Permission.ACCOUNT_MANAGE}
    ),
    Role.SECURITY_ADMIN: frozenset({Permission.DIVISION_VIEW}),
    Role.AUDIT_ADMIN: frozenset({Permission.AUDIT_VIEW}),
}


def permissions_for(roles: frozenset[str] | set[str]) -> frozenset[str]:
    granted: set[str] = set()
    for role in roles:
        granted |= ROLE_PERMISSIONS.get(role, frozenset())
    return frozenset(granted)

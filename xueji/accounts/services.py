"""Writes of units and accounts. Every write is audited in its own transaction."""

from collections.abc import Iterable

from django.db import transaction
from django.utils.translation import gettext as _

from xueji.audit.services import audit_record
from xueji.divisions.models import DivisionLevel
from xueji.divisions.refdata import GROUPING_NAMES
from xueji.divisions.selectors import division_path, level_of_code
from xueji.errors import FieldError, ValidationFailed
from xueji.schools.rules import SEPARATE_PREFIX

from .models import Role, RoleGrant, Unit, UnitKind, User

_KIND_OF_LEVEL: dict[int, UnitKind] = {
    DivisionLevel.PROVINCE: UnitKind.PROVINCE,
    DivisionLevel.CITY: UnitKind.CITY,
    DivisionLevel.COUNTY: UnitKind.COUNTY,
}


def unit_ensure_national() -> Unit:
    unit = Unit.objects.filter(kind=UnitKind.NATIONAL).first()
    if unit is None:
        unit = Unit.objects.create(
            kind=UnitKind.NATIONAL, name="教育部", area_prefix=""
        )  # stored data: always Chinese
    return unit


def unit_ensure_separate() -> Unit:
    unit = Unit.objects.filter(kind=UnitKind.SEPARATE).first()
    if unit is None:
        unit = Unit.objects.create(
            kind=UnitKind.SEPARATE,
            name="单列管理学校（海外中国学校、港澳内地课程学校）",  # stored data
            parent=unit_ensure_national(),
            area_prefix=SEPARATE_PREFIX,
        )
    return unit


def unit_ensure_for_division(*, division_code: str) -> Unit:
    """The authority unit of a division, creating it and its ancestors when missing."""
    path = division_path(division_code)
    if not path or path[-1].code != division_code:
        raise ValidationFailed(
            [
                FieldError(
                    "division_code", "division.unknown", _("未知的行政区划代码：%s") % division_code
                )
            ]
        )
    parent = unit_ensure_national()
    for division in path:
        kind = _KIND_OF_LEVEL[level_of_code(division.code)]
        unit = Unit.objects.filter(kind=kind, division_code=division.code).first()
        if unit is None:
            suffix = {
                UnitKind.PROVINCE: "教育厅",
                UnitKind.CITY: "教育局",
                UnitKind.COUNTY: "教育局",
            }[kind]
            name = division.name
            if name in GROUPING_NAMES:
                name = f"{parent.name.removesuffix('教育厅').removesuffix('教育局')}{name}"
            unit = Unit.objects.create(
                kind=kind,
                name=f"{name}{suffix}",
                parent=parent,
                area_prefix=division.prefix,
                division_code=division.code,
            )
        parent = unit
    return parent


def unit_ensure_for_school(school) -> Unit:
    unit = Unit.objects.filter(school=school).first()
    if unit is not None:
        return unit
    if school.listed_separately:
        parent = unit_ensure_separate()
    else:
        parent = unit_ensure_for_division(division_code=school.division_code)
    return Unit.objects.create(
        kind=UnitKind.SCHOOL,
        name=school.name,
        parent=parent,
        area_prefix=school.area_code,
        division_code=school.division_code,
        school=school,
    )


def user_create(
    *,
    actor: User | None,
    unit: Unit,
    username: str,
    password: str,
    roles: Iterable[str],
    full_name: str = "",
) -> User:
    roles = list(dict.fromkeys(roles))
    unknown = [r for r in roles if r not in Role.values]
    if unknown:
        raise ValidationFailed(
            [FieldError("roles", "role.unknown", _("未知角色：%s") % ", ".join(unknown))]
        )
    if User.objects.filter(username=username).exists():
        raise ValidationFailed([FieldError("username", "username.taken", _("用户名已存在"))])
    with transaction.atomic():
        user = User(username=username, unit=unit, full_name=full_name)
        user.set_password(password)
        user.save()
        RoleGrant.objects.bulk_create([RoleGrant(user=user, role=r) for r in roles])
        audit_record(
            actor=actor,
            action="account.create",
            object_type="user",
            object_id=user.pk,
            summary=f"创建账号 {username}（{unit.name}）",
            detail={"roles": roles, "unit_id": unit.pk},
        )
    return user

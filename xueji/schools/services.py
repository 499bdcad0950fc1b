"""The only writers of schools."""

from django.db import transaction
from django.utils.translation import gettext as _

from xueji.accounts.permissions import require_permission
from xueji.accounts.rules import Permission
from xueji.accounts.scope import scope_for
from xueji.accounts.services import unit_ensure_for_school
from xueji.audit.events import AuditAction, ObjectType
from xueji.audit.services import audit_record
from xueji.divisions.selectors import current_county_codes
from xueji.errors import Conflict, FieldError, NotFound, ValidationFailed

from .models import School
from .permissions import access_school
from .rules import SchoolState
from .validation import CleanSchool, clean_school


def _check_area(actor, clean: CleanSchool) -> None:
    if not scope_for(actor).covers_area(clean.area_code):
        raise ValidationFailed(
            [
                FieldError(
                    "division_code",
                    "scope.outside",
                    _("该区县不在您的管理范围内"),
                    clean.division_code or clean.area_code,
                )
            ]
        )


def school_create(*, actor, data: dict) -> School:
    require_permission(actor, Permission.SCHOOL_EDIT)
    clean, errors = clean_school(data, county_codes=current_county_codes())
    if errors or clean is None:
        raise ValidationFailed(errors)
    _check_area(actor, clean)
    with transaction.atomic():
        if School.objects.filter(code=clean.code).exists():
            raise Conflict("school.code_taken", _("学校标识码 %s 已存在") % clean.code)
        school = School.objects.create(**clean.__dict__)
        unit_ensure_for_school(school)
        audit_record(
            actor=actor,
            action=AuditAction.SCHOOL_CREATE,
            object_type=ObjectType.SCHOOL,
            object_id=school.pk,
            summary=f"新建学校 {school.name}（{school.code}）",
        )
    return school


_EDITABLE = ("name", "operator", "managing_level", "address")


def school_update(*, actor, school_id: int, data: dict) -> School:
    """Edit name, operator, managing level and address; code, type and area stay fixed."""
    require_permission(actor, Permission.SCHOOL_EDIT)
    school = access_school(actor, school_id=school_id)
    merged = {
        "code": school.code,
        "school_type": school.school_type,
        "division_code": school.division_code,
        **{f: getattr(school, f) for f in _EDITABLE},
        **{k: v for k, v in data.items() if k in _EDITABLE},
    }
    clean, errors = clean_school(
        merged, county_codes=current_county_codes() | {school.division_code}
    )
    if errors or clean is None:
        raise ValidationFailed(errors)
    with transaction.atomic():
        school = School.objects.select_for_update().get(pk=school.pk)
        changes = {}
        for field in _EDITABLE:
            new = getattr(clean, field)
            if getattr(school, field) != new:
                changes[field] = [getattr(school, field), new]
                setattr(school, field, new)
        if changes:
            school.save(update_fields=[*changes, "updated_at"])
            if "name" in changes and hasattr(school, "unit"):
                school.unit.name = school.name
                school.unit.save(update_fields=["name"])
            audit_record(
                actor=actor,
                action=AuditAction.SCHOOL_UPDATE,
                object_type=ObjectType.SCHOOL,
                object_id=school.pk,
                summary=f"修改学校 {school.name}",
                detail={"changes": changes},
            )
    return school


def school_close(
    *, actor, school_id: int, closed_on, successor_id: int | None, merged: bool
) -> School:
    """Close or merge a school; its records pass to the successor through the change services."""
    require_permission(actor, Permission.SCHOOL_EDIT)
    school = access_school(actor, school_id=school_id)
    successor = None
    if successor_id is not None:
        try:
            successor = access_school(actor, school_id=successor_id)
        except NotFound:
            raise ValidationFailed(
                [
                    FieldError(
                        "successor", "school.successor_unknown", _("承接学校不存在或不在管理范围内")
                    )
                ]
            ) from None
    if merged and successor is None:
        raise ValidationFailed([FieldError("successor", "required", _("合并须指定承接学校"))])
    if successor is not None and successor.pk == school.pk:
        raise ValidationFailed(
            [FieldError("successor", "school.successor_self", _("承接学校不能是本校"))]
        )
    with transaction.atomic():
        school.state = SchoolState.MERGED if merged else SchoolState.CLOSED
        school.closed_on = closed_on
        school.successor = successor
        school.save(update_fields=["state", "closed_on", "successor", "updated_at"])
        audit_record(
            actor=actor,
            action=AuditAction.SCHOOL_CLOSE,
            object_type=ObjectType.SCHOOL,
            object_id=school.pk,
            summary=f"{'合并' if merged else '撤销'}学校 {school.name}",
            detail={"successor_id": successor_id, "closed_on": str(closed_on)},
        )
    return school

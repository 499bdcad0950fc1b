"""The guardian's online application (一网通办): sign-in by one-time code, applying for a
transfer, withdrawing it, adding materials.

Sign-in: the student number and the guardian's ID number on file (compared through the
blind index of ``xueji.students.identity``, never by decrypting) name a guardian; a code
goes to the guardian's phone on file through the configured sender. Whatever the outcome
— no such student, another ID number, no phone, the hourly limit reached — the caller
answers the same, so the form cannot be used to find out who is registered. Nothing is
stored or sent when nothing matched.

Every write runs in one transaction with its audit event; the actor is the guardian's
pseudo-actor (``GuardianActor``: no account, ``guardian:<masked student number>``).
"""

import logging
import secrets
from datetime import date

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext as _

from xueji import clock
from xueji.audit.events import AuditAction, ObjectType
from xueji.audit.services import audit_record
from xueji.changes.models import ChangeRequest, Material
from xueji.changes.rules import Channel, RequestState
from xueji.changes.services import (
    _check_materials,
    _save_materials,
    request_withdraw,
    transfer_create,
)
from xueji.errors import Conflict, FieldError, ValidationFailed
from xueji.students import identity
from xueji.students.models import Guardian, Student

from . import rules, selectors
from .actor import GuardianActor
from .models import CodeChannel, OneTimeCode
from .permissions import access_own_request
from .senders import sender

logger = logging.getLogger("xueji.portal")

_HASH_SALT = "xueji.portal.one-time-code"


# ----------------------------------------------------------------- code hashing


def _digest(salt: str, code: str) -> str:
    # Keyed by the secret key: a six-digit code's plain hash would fall to a table of 10⁶.
    return salted_hmac(_HASH_SALT, f"{salt}:{code}", algorithm="sha256").hexdigest()


def code_hash(code: str) -> str:
    salt = secrets.token_hex(8)
    return f"{salt}${_digest(salt, code)}"


def code_matches(stored: str, code: str) -> bool:
    salt, _sep, digest = stored.partition("$")
    return bool(salt and digest) and constant_time_compare(digest, _digest(salt, code))


def _invalid_code() -> ValidationFailed:
    # One message for a wrong, expired, used or exhausted code and for a sign-in that
    # matched nobody: the answer tells nothing about who is registered.
    message = _("验证码不正确或已失效，请核对后重新输入，或重新获取验证码。")
    return ValidationFailed([FieldError("code", "portal.code_invalid", message)], message)


# ----------------------------------------------------------------- sign-in


def _guardian_named_by(*, student_number: str, guardian_id_number: str) -> Guardian | None:
    number = (student_number or "").strip().upper()
    # Spaces typed between groups of digits on a phone keyboard are not part of the number.
    keys = identity.search_keys("".join((guardian_id_number or "").split()))
    if not number or not keys:
        return None
    return (
        Guardian.objects.select_related("student")
        .filter(identity.number_q(number, field="student"), is_guardian=True, id_key__in=keys)
        .exclude(phone="")
        .order_by("pk")
        .first()
    )


def code_send(*, student_number: str, guardian_id_number: str) -> int | None:
    """Send a sign-in code to the phone on file of the guardian the two numbers name.

    Returns the code's id (the caller keeps it in the session), or ``None`` when nothing
    was sent: no such student or guardian, no phone on file, or five codes already sent to
    this guardian for this student within the hour. Older unused codes stop working.
    """
    guardian = _guardian_named_by(
        student_number=student_number, guardian_id_number=guardian_id_number
    )
    if guardian is None:
        logger.info("portal: a code request matched no guardian")
        return None
    student = guardian.student
    actor = GuardianActor(
        student_id=student.pk, guardian_id=guardian.pk, number_masked=student.number_masked
    )
    now = clock.now()
    code = rules.code_new()
    sent_to = rules.mask_phone(guardian.phone)
    with transaction.atomic():
        # One guardian's sends are serialised, so two racing requests cannot both pass the limit.
        Guardian.objects.select_for_update().filter(pk=guardian.pk).values_list("pk").first()
        recent = OneTimeCode.objects.filter(
            student=student, guardian=guardian, created_at__gt=now - rules.SEND_WINDOW
        ).count()
        if not rules.send_allowed(recent):
            audit_record(
                actor=actor,
                action=AuditAction.PORTAL_CODE_LIMITED,
                object_type=ObjectType.GUARDIAN,
                object_id=guardian.pk,
                summary="验证码发送次数已达每小时上限",
                detail={"sent_in_hour": recent},
            )
            return None
        OneTimeCode.objects.filter(
            student=student, guardian=guardian, used_at__isnull=True, expires_at__gt=now
        ).update(expires_at=now)
        row = OneTimeCode.objects.create(
            student=student,
            guardian=guardian,
            code_hash=code_hash(code),
            channel=CodeChannel.SMS,
            sent_to=sent_to,
            created_at=now,
            expires_at=now + rules.CODE_TTL,
        )
        audit_record(
            actor=actor,
            action=AuditAction.PORTAL_CODE_SEND,
            object_type=ObjectType.GUARDIAN,
            object_id=guardian.pk,
            summary=f"发送登录验证码至 {sent_to}",
            detail={"code_id": row.pk, "sent_to": sent_to},
        )
    message = _(
        "【学籍管理】您的验证码为 %(code)s，用于家长网上办理登录，%(minutes)d 分钟内有效。"
        "如非本人操作，请忽略本短信。"
    ) % {"code": code, "minutes": int(rules.CODE_TTL.total_seconds() // 60)}
    try:
        sender().send(phone=guardian.phone, message=message)
    except Exception:
        # The gateway's failure must not tell the visitor more than success would.
        logger.exception("portal: the sender failed for code %s", row.pk)
    return row.pk


def code_verify(*, code_id: int | None, code: str) -> GuardianActor:
    """Sign in with the code sent last: right, unused, in time and with fewer than five
    wrong tries before it. A wrong code counts a try. Any failure raises the same
    ``ValidationFailed`` (``portal.code_invalid``)."""
    typed = rules.code_normalise(code)
    now = clock.now()
    signed_in: GuardianActor | None = None
    with transaction.atomic():
        row = (
            OneTimeCode.objects.select_for_update()
            .select_related("student")
            .filter(pk=code_id)
            .first()
            if code_id
            else None
        )
        if row is None:
            raise _invalid_code()
        actor = GuardianActor(
            student_id=row.student_id,
            guardian_id=row.guardian_id,
            number_masked=row.student.number_masked,
        )
        state = rules.code_state(
            now=now, expires_at=row.expires_at, attempts=row.attempts, used_at=row.used_at
        )
        if state != rules.CodeState.USABLE:
            audit_record(
                actor=actor,
                action=AuditAction.PORTAL_SIGNIN_REFUSED,
                object_type=ObjectType.GUARDIAN,
                object_id=row.guardian_id,
                summary="验证码已失效",
                detail={"code_id": row.pk, "state": str(state)},
            )
        elif not code_matches(row.code_hash, typed):
            row.attempts += 1
            row.save(update_fields=["attempts"])
            audit_record(
                actor=actor,
                action=AuditAction.PORTAL_SIGNIN_REFUSED,
                object_type=ObjectType.GUARDIAN,
                object_id=row.guardian_id,
                summary="验证码错误",
                detail={"code_id": row.pk, "attempts": row.attempts},
            )
        else:
            row.used_at = now
            row.save(update_fields=["used_at"])
            audit_record(
                actor=actor,
                action=AuditAction.PORTAL_SIGNIN,
                object_type=ObjectType.GUARDIAN,
                object_id=row.guardian_id,
                summary="家长登录网上办理",
                detail={"code_id": row.pk},
            )
            signed_in = actor
    # Raised after the block: the counted try and its audit event stay committed.
    if signed_in is None:
        raise _invalid_code()
    return signed_in


def guardian_signout(*, guardian: GuardianActor, idle: bool = False) -> None:
    """Record the end of a guardian's session (signed out, or idle for 30 minutes)."""
    with transaction.atomic():
        audit_record(
            actor=guardian,
            action=AuditAction.PORTAL_SESSION_IDLE if idle else AuditAction.PORTAL_SIGNOUT,
            object_type=ObjectType.GUARDIAN,
            object_id=guardian.guardian_id,
            summary="长时间未操作，自动退出" if idle else "家长退出网上办理",
        )


# ----------------------------------------------------------------- the transfer


def portal_transfer_apply(
    *,
    guardian: GuardianActor,
    target_school_id: int | None,
    reason: str,
    uploads: list[tuple[str, UploadedFile]],
    today: date | None = None,
) -> ChangeRequest:
    """Apply for the student's transfer to an open school that offers the student's grade.

    The engine's ``transfer_create`` checks the rest (rule in force of the target's
    province, blocked periods, the required materials and their files, one open request
    per student) and makes the receiving school's step pending.
    """
    student = Student.objects.select_related("record").get(pk=guardian.student_id)
    applicant = Guardian.objects.get(pk=guardian.guardian_id, student_id=student.pk)
    target = selectors.destination_school(student.record, target_school_id)
    if target is None:
        raise ValidationFailed(
            [FieldError("school", "portal.school_unavailable", _("请选择可转入的学校"))],
            _("申请未通过校验，未提交。"),
        )
    return transfer_create(
        actor=guardian,
        student=student,
        target_school=target,
        effective_date=today or clock.today(),
        reason=reason,
        payload={},
        uploads=uploads,
        channel=Channel.GUARDIAN,
        applicant_name=applicant.name,
    )


def portal_withdraw(*, guardian: GuardianActor, request_id: int, reason: str = "") -> ChangeRequest:
    """Withdraw the guardian's own open application."""
    request = access_own_request(guardian, request_id)
    text = (reason or "").strip()
    return request_withdraw(
        actor=guardian,
        request=request,
        reason=f"家长撤回：{text}" if text else "家长撤回申请",  # stored data: Chinese
    )


def portal_material_add(
    *, guardian: GuardianActor, request_id: int, uploads: list[tuple[str, UploadedFile]]
) -> list[Material]:
    """Add materials to the guardian's own open application.

    The engine's ``material_add`` wants an account with a permission; this is its guardian
    twin, with the same file checks and storage (the engine's ``_check_materials`` and
    ``_save_materials``) and the same audit action.
    """
    if not uploads:
        raise ValidationFailed(
            [FieldError("files", "material.none", _("请选择要上传的文件"))],
            _("材料未通过校验，未上传。"),
        )
    request = access_own_request(guardian, request_id)
    checked = _check_materials(uploads)
    with transaction.atomic():
        request = ChangeRequest.objects.select_for_update().get(pk=request.pk)
        if request.state != RequestState.OPEN:
            raise Conflict("change.closed", _("该申请已办结，不能再补充材料。"))
        saved = _save_materials(request, checked, by=guardian.username, now=clock.now())
        audit_record(
            actor=guardian,
            action=AuditAction.CHANGE_MATERIAL_ADD,
            object_type=ObjectType.CHANGE_REQUEST,
            object_id=request.pk,
            summary=f"补充材料 {len(saved)} 份",
            detail={"kinds": [m.kind for m in saved], "channel": Channel.GUARDIAN},
        )
    return saved

"""The only writers of data releases: the request, its review, its approval (which generates
the file), and the audited downloads. Each step checks access, applies the rules, saves with
``update_fields`` and writes its audit event in one transaction.
"""

import hashlib
import secrets
import time
from dataclasses import dataclass, field
from datetime import date
from typing import IO, Any

from django.conf import settings
from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils.translation import gettext as _

from xueji import clock
from xueji.accounts.models import User
from xueji.accounts.permissions import require_permission
from xueji.accounts.rules import Permission
from xueji.accounts.scope import scope_for
from xueji.archives.rules import ARCHIVE_MAX_BYTES, FILE_TYPES, sniff_file_type
from xueji.audit.events import AuditAction, ObjectType
from xueji.audit.services import audit_record
from xueji.errors import Conflict, FieldError, NotFound, ValidationFailed
from xueji.schools.models import School

from . import generation
from .errors import BasisInvalid, ReleaseRefused
from .models import DataRelease
from .permissions import access_release_approve, access_release_review
from .rules import (
    CELL_THRESHOLD,
    MIN_K,
    PublicationRoute,
    ReleaseKind,
    basis_errors,
    downloadable,
    next_state,
    publication_route,
    request_errors,
)


def min_k() -> int:
    return max(2, int(settings.XUEJI.get("RELEASE_MIN_K", MIN_K)))


def min_threshold() -> int:
    return max(2, int(settings.XUEJI.get("RELEASE_CELL_THRESHOLD", CELL_THRESHOLD)))


@dataclass
class ReleaseInput:
    """A request as typed on the page or sent to the API."""

    purpose: str = ""
    basis_kind: str = ""
    basis_law: str = ""
    basis_authority: str = ""
    basis_level: str = ""
    basis_document_no: str = ""
    kind: str = ReleaseKind.ROWS
    fields: list[str] = field(default_factory=list)
    # The population: the requester's scope, narrowed to a division or a school (optional).
    area_code: str = ""
    school_code: str = ""
    stages: list[str] = field(default_factory=list)
    grades: list[str] = field(default_factory=list)
    states: list[str] = field(default_factory=list)
    identifiers: str = "pseudonym"
    birth: str = "year"
    k: int | None = None
    threshold: int | None = None
    output_format: str = "csv"
    recipient_organisation: str = ""
    recipient_username: str = ""
    expires_on: date | None = None


def _username(actor: Any) -> str:
    return (getattr(actor, "username", "") or "")[:150]


def _reference(now) -> str:
    """SJFB-<year>-<8 random hex>: unique, not guessable from the sequence of requests."""
    return f"SJFB-{now.year}-{secrets.token_hex(4).upper()}"


def _population_scope(actor, data: ReleaseInput) -> tuple[str, School | None, str]:
    """(area prefix, school, label) of the population, inside the actor's scope: a school or
    division outside it is "not found", like a missing row."""
    scope = scope_for(actor)
    unit = actor.unit
    if data.school_code.strip():
        school = School.objects.filter(code=data.school_code.strip()).first()
        if school is None or not scope.covers(area_code=school.area_code, school_id=school.pk):
            raise NotFound("school")
        return "", school, school.name
    if data.area_code.strip():
        code = data.area_code.strip()
        prefix = code.rstrip("0") if len(code) == 6 else code
        if len(prefix) % 2:
            prefix += "0"
        if not prefix or not scope.covers_area(prefix):
            raise NotFound("division")
        return prefix, None, code
    if scope.school_id is not None:
        return "", unit.school, unit.name
    return scope.area_prefix or "", None, unit.name


def _document_checked(upload: File | None) -> tuple[str, str] | None:
    """(content type, extension) of an acceptable approval document, or ``None``."""
    if upload is None:
        return None
    size = int(getattr(upload, "size", 0) or 0)
    if not 0 < size <= ARCHIVE_MAX_BYTES:
        return None
    upload.seek(0)
    head = upload.read(16)
    upload.seek(0)
    kind = sniff_file_type(head)
    return FILE_TYPES[kind] if kind is not None else None


def release_request(*, actor: Any, data: ReleaseInput, document: File | None = None) -> DataRelease:
    """File a request. Every broken rule (purpose, basis, fields, de-identification,
    recipient, expiry) is reported at once on its field; nothing is stored unless all pass."""
    require_permission(actor, Permission.RELEASE_REQUEST)
    prefix, school, label = _population_scope(actor, data)
    recipient = (
        User.objects.filter(username=data.recipient_username.strip(), is_active=True)
        .exclude(unit__isnull=True)
        .first()
        if data.recipient_username.strip()
        else None
    )
    document_type = _document_checked(document)
    k = data.k if data.k is not None else min_k()
    threshold = data.threshold if data.threshold is not None else min_threshold()
    fields = list(dict.fromkeys(data.fields))
    errors = basis_errors(
        kind=data.basis_kind,
        law=data.basis_law,
        authority=data.basis_authority,
        level=data.basis_level,
        document_no=data.basis_document_no,
        has_document=document_type is not None,
    ) + request_errors(
        purpose=data.purpose,
        kind=data.kind,
        fields=fields,
        identifiers=data.identifiers,
        birth=data.birth,
        k=k,
        threshold=threshold,
        output_format=data.output_format,
        organisation=data.recipient_organisation,
        has_recipient=recipient is not None,
        expires_on=data.expires_on,
        today=clock.today(),
        min_k=min_k(),
        min_threshold=min_threshold(),
    )
    if document is not None and document_type is None and data.basis_kind == "government":
        # Said on the upload itself rather than as "missing".
        errors = [e for e in errors if e.code != "release.basis_document_missing"]
        errors.append(
            FieldError(
                "basis_document",
                "release.basis_document_type",
                _("批准文件只能是 PDF、JPG 或 PNG，不超过 10 MB。"),
            )
        )
    if errors:
        raise ValidationFailed(errors)
    assert recipient is not None and data.expires_on is not None
    now = clock.now()
    release = DataRelease(
        reference=_reference(now),
        unit=actor.unit,
        purpose=data.purpose.strip(),
        basis_kind=data.basis_kind,
        basis_law=data.basis_law.strip()[:255] if data.basis_kind == "law" else "",
        basis_authority=data.basis_authority.strip()[:128] if data.basis_kind != "law" else "",
        basis_level=data.basis_level if data.basis_kind != "law" else "",
        basis_document_no=data.basis_document_no.strip()[:64] if data.basis_kind != "law" else "",
        kind=data.kind,
        fields=fields,
        scope_prefix=prefix,
        scope_school=school,
        scope_label=label[:128],
        filters={
            "stages": sorted(set(data.stages)),
            "grades": sorted(set(data.grades)),
            "states": sorted(set(data.states)),
        },
        identifiers=data.identifiers,
        birth=data.birth,
        k=k,
        threshold=threshold,
        output_format=data.output_format,
        recipient_organisation=data.recipient_organisation.strip()[:128],
        recipient=recipient,
        expires_on=data.expires_on,
        requested_by=actor,
        requested_at=now,
        key_salt=secrets.token_hex(16),
    )
    stored = False
    if document is not None and document_type is not None and data.basis_kind == "government":
        digest = hashlib.sha256()
        for chunk in document.chunks():
            digest.update(chunk)
        document.seek(0)
        release.basis_document_type = document_type[0]
        release.basis_document_sha256 = digest.hexdigest()
        # A generated name: the uploaded one may carry personal data or path tricks.
        release.basis_document.save(
            f"{digest.hexdigest()[:16]}{document_type[1]}", document, save=False
        )
        stored = True
    try:
        with transaction.atomic():
            release.save(force_insert=True)
            audit_record(
                actor=actor,
                action=AuditAction.RELEASE_REQUEST,
                object_type=ObjectType.RELEASE,
                object_id=release.pk,
                summary=f"申请数据发布 {release.reference}：{release.purpose[:60]}",
                detail={
                    "reference": release.reference,
                    "kind": release.kind,
                    "fields": fields,
                    "scope": prefix or (school.code if school else ""),
                    "filters": release.filters,
                    "identifiers": release.identifiers,
                    "k": k,
                    "threshold": threshold,
                    "basis_kind": release.basis_kind,
                    "recipient": recipient.username,
                    "expires_on": release.expires_on.isoformat(),
                },
            )
    except BaseException:
        if stored:
            release.basis_document.delete(save=False)
        raise
    return release


def _transition(release: DataRelease, action: str) -> str:
    """The one guard of the pipeline: the next state, or a conflict naming the current one."""
    state = next_state(release.state, action)
    if state is None:
        raise Conflict(
            "release.state",
            _("该数据发布当前状态为“%s”，不能执行此操作。") % release.get_state_display(),
        )
    return state


def _locked(release_id: int) -> DataRelease:
    return DataRelease.objects.select_for_update().get(pk=release_id)


def release_review(*, actor: Any, release_id: int, decision: str, note: str = "") -> DataRelease:
    """The requesting unit's reviewer passes the request on for approval, or refuses it
    (a refusal needs a reason)."""
    access_release_review(actor, release_id=release_id)
    if decision not in ("pass", "reject"):
        raise ValidationFailed(
            [FieldError("decision", "release.decision", _("请选择审核结论。"), decision[:16])]
        )
    if decision == "reject" and not note.strip():
        raise ValidationFailed(
            [FieldError("note", "release.reason_missing", _("不予通过时请写明理由。"))]
        )
    with transaction.atomic():
        release = _locked(release_id)
        now = clock.now()
        if decision == "pass":
            release.state = _transition(release, "review")
            release.reviewed_by = actor
            release.reviewed_at = now
            release.review_note = note.strip()[:255]
            release.save(update_fields=["state", "reviewed_by", "reviewed_at", "review_note"])
            action, summary = AuditAction.RELEASE_REVIEW, f"审核通过数据发布 {release.reference}"
        else:
            release.state = _transition(release, "reject")
            release.rejected_by = actor
            release.rejected_at = now
            release.rejection_reason = note.strip()[:255]
            release.save(update_fields=["state", "rejected_by", "rejected_at", "rejection_reason"])
            action, summary = AuditAction.RELEASE_REJECT, f"审核不予通过 {release.reference}"
        audit_record(
            actor=actor,
            action=action,
            object_type=ObjectType.RELEASE,
            object_id=release.pk,
            summary=summary,
            detail={"step": "review", "decision": decision, "note": note.strip()[:255]},
        )
    return release


def release_approve(*, actor: Any, release_id: int, decision: str, note: str = "") -> DataRelease:
    """An authority at county level or above approves (and is named on the release) or
    refuses. Approval is refused without a valid legal basis. Approved, the file is generated
    at once (``release_generate``)."""
    access_release_approve(actor, release_id=release_id)
    if decision not in ("approve", "reject"):
        raise ValidationFailed(
            [FieldError("decision", "release.decision", _("请选择审批结论。"), decision[:16])]
        )
    if decision == "reject" and not note.strip():
        raise ValidationFailed(
            [FieldError("note", "release.reason_missing", _("不予通过时请写明理由。"))]
        )
    with transaction.atomic():
        release = _locked(release_id)
        now = clock.now()
        if decision == "reject":
            release.state = _transition(release, "reject")
            release.rejected_by = actor
            release.rejected_at = now
            release.rejection_reason = note.strip()[:255]
            release.save(update_fields=["state", "rejected_by", "rejected_at", "rejection_reason"])
            audit_record(
                actor=actor,
                action=AuditAction.RELEASE_REJECT,
                object_type=ObjectType.RELEASE,
                object_id=release.pk,
                summary=f"审批不予通过 {release.reference}",
                detail={"step": "approval", "note": note.strip()[:255]},
            )
            return release
        state = _transition(release, "approve")
        errors = basis_errors(
            kind=release.basis_kind,
            law=release.basis_law,
            authority=release.basis_authority,
            level=release.basis_level,
            document_no=release.basis_document_no,
            has_document=bool(release.basis_document),
        )
        if errors:
            raise BasisInvalid(
                errors, _("该申请没有有效的法律依据或县级以上人民政府批准，不能批准。")
            )
        release.state = state
        release.approved_by = actor
        release.approver_name = (actor.full_name or actor.username)[:150]
        release.approver_unit = actor.unit
        release.approved_at = now
        release.approval_note = note.strip()[:255]
        release.save(
            update_fields=[
                "state",
                "approved_by",
                "approver_name",
                "approver_unit",
                "approved_at",
                "approval_note",
            ]
        )
        audit_record(
            actor=actor,
            action=AuditAction.RELEASE_APPROVE,
            object_type=ObjectType.RELEASE,
            object_id=release.pk,
            summary=f"批准数据发布 {release.reference}（{actor.unit.name}）",
            detail={
                "approver": actor.username,
                "approver_unit_id": actor.unit_id,
                "note": note.strip()[:255],
                "basis_kind": release.basis_kind,
            },
        )
    return release_generate(actor=actor, release_id=release.pk)


def release_generate(*, actor: Any, release_id: int) -> DataRelease:
    """Generate the approved release's file (set-based, ``generation``) and store it. A
    failure leaves the release ``failed`` with its reason, audited; it may be generated
    again (``manage.py release_generate``)."""
    release = DataRelease.objects.select_related("recipient", "approver_unit").get(pk=release_id)
    _transition(release, "generate")
    started = time.perf_counter()
    try:
        generated = generation.generate(release)
    except Exception as error:  # any failure is recorded, then re-raised
        with transaction.atomic():
            release = _locked(release_id)
            release.state = _transition(release, "fail")
            release.failure = str(error)[:255]
            release.save(update_fields=["state", "failure"])
            audit_record(
                actor=actor,
                action=AuditAction.RELEASE_GENERATE_FAILED,
                object_type=ObjectType.RELEASE,
                object_id=release.pk,
                summary=f"数据发布 {release.reference} 生成失败",
                detail={"error": str(error)[:255]},
            )
        raise
    seconds = time.perf_counter() - started
    name = default_storage.save(
        f"releases/files/{release.reference}-{release.key_salt[:8]}{generated.extension}",
        ContentFile(generated.content),
    )
    try:
        with transaction.atomic():
            release = _locked(release_id)
            release.state = _transition(release, "generate")
            release.file.name = name
            release.file_sha256 = hashlib.sha256(generated.content).hexdigest()
            release.row_count = generated.rows
            release.population_count = generated.population
            release.suppressed_count = generated.suppressed
            release.generated_at = clock.now()
            release.failure = ""
            release.save(
                update_fields=[
                    "state",
                    "file",
                    "file_sha256",
                    "row_count",
                    "population_count",
                    "suppressed_count",
                    "generated_at",
                    "failure",
                ]
            )
            audit_record(
                actor=actor,
                action=AuditAction.RELEASE_GENERATE,
                object_type=ObjectType.RELEASE,
                object_id=release.pk,
                summary=(
                    f"生成数据发布 {release.reference}：{generated.rows} 行，"
                    f"抑制 {generated.suppressed}"
                ),
                detail={
                    "rows": generated.rows,
                    "population": generated.population,
                    "suppressed": generated.suppressed,
                    "sha256": release.file_sha256,
                    "seconds": round(seconds, 3),
                },
            )
    except BaseException:
        default_storage.delete(name)
        raise
    return release


# ---------------------------------------------------------------- audited downloads


def _refuse_download(actor: Any, release: DataRelease, reason: str) -> None:
    with transaction.atomic():
        audit_record(
            actor=actor,
            action=AuditAction.RELEASE_DOWNLOAD_REFUSED,
            object_type=ObjectType.RELEASE,
            object_id=release.pk,
            summary=f"下载数据发布 {release.reference} 被拒绝",
            detail={"reason": reason},
        )


def release_download_open(*, actor: Any, release_id: int) -> tuple[DataRelease, IO[bytes]]:
    """Open the file for its named recipient, until the expiry date; every download and
    every refused attempt on an existing release is audited. Anyone but the recipient gets
    "not found"; the recipient after the expiry (or before generation) gets a refusal."""
    release = DataRelease.objects.filter(pk=release_id).first()
    user_id = getattr(actor, "pk", None)
    if release is None:
        raise NotFound("release")
    if not getattr(actor, "is_active", False) or release.recipient_id != user_id:
        _refuse_download(actor, release, "not_recipient")
        raise NotFound("release")
    if not downloadable(state=release.state, expires_on=release.expires_on, today=clock.today()):
        expired = clock.today() > release.expires_on
        _refuse_download(actor, release, "expired" if expired else "not_generated")
        if expired:
            raise ReleaseRefused(
                "release.expired",
                _("下载期限已于 %s 截止，不能再下载。") % release.expires_on.isoformat(),
            )
        raise Conflict("release.not_generated", _("该数据发布尚未生成文件。"))
    with transaction.atomic():
        audit_record(
            actor=actor,
            action=AuditAction.RELEASE_DOWNLOAD,
            object_type=ObjectType.RELEASE,
            object_id=release.pk,
            summary=f"下载数据发布 {release.reference}",
            detail={"sha256": release.file_sha256, "rows": release.row_count},
        )
    return release, default_storage.open(release.file.name, "rb")


def release_basis_open(*, actor: Any, release: DataRelease) -> IO[bytes]:
    """The uploaded approval document, for the reviewers and approvers; audited."""
    with transaction.atomic():
        audit_record(
            actor=actor,
            action=AuditAction.RELEASE_BASIS_DOWNLOAD,
            object_type=ObjectType.RELEASE,
            object_id=release.pk,
            summary=f"查看数据发布 {release.reference} 的批准文件",
            detail={"sha256": release.basis_document_sha256},
        )
    return default_storage.open(release.basis_document.name, "rb")


# ---------------------------------------------------------------- publication (item 5)


@dataclass
class PublicationCheck:
    route: str
    cells: list[int]
    threshold: int


def publication_check(*, kind: str, cells: list[int]) -> PublicationCheck:
    """Whether statistics may go to the public or another department directly: only an
    aggregate table whose every cell is at or above the suppression threshold; everything
    else must be requested as a release (``release_request``)."""
    threshold = min_threshold()
    return PublicationCheck(
        route=publication_route(kind=kind, cells=cells, threshold=threshold),
        cells=list(cells),
        threshold=threshold,
    )


def publication_require_direct(*, kind: str, cells: list[int]) -> None:
    """Refuse (409 ``release.required``) what may not be published without a release."""
    check = publication_check(kind=kind, cells=cells)
    if check.route != PublicationRoute.DIRECT:
        raise Conflict(
            "release.required",
            _("该统计含少于 %d 人的单元格或个体数据，不能直接公开或提供，须经数据发布申请和审批。")
            % check.threshold,
        )

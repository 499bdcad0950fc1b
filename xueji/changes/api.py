"""Status changes over the API: list and read requests, file them (transfers by the
receiving school), handle one's own steps, withdraw, add materials. Bodies parse, call one
selector or service, and shape the output; domain errors become JSON in config/api.py.

Filing takes JSON **or** multipart: materials cannot travel in JSON, and a rule that
requires materials at filing would refuse a JSON filing (``material.required``). A
multipart filing carries the same fields as form fields (``payload`` as a JSON string) and
one file part per material, named by its kind (``application=@form.pdf``).
"""

import json
from typing import Any, TypeVar

import pydantic
from django.core.files.uploadedfile import UploadedFile
from django.db.models import Prefetch
from django.http import HttpRequest
from ninja import Query, Router, Schema, Status

from xueji import clock
from xueji.api_types import Integer
from xueji.audit.reads import ReadKind, note_read
from xueji.errors import FieldError, ValidationFailed
from xueji.i18n import gettext_lazy_str as _
from xueji.students import identity
from xueji.students.permissions import may_see_full_number
from xueji.web import search

from . import selectors, services
from .models import ApprovalStep, ChangeRequest, Material
from .rules import MaterialKind, StepState
from .schemas import (
    ChangeDetailOut,
    ChangeIn,
    ChangePage,
    MaterialOut,
    QueueItemOut,
    RefuseIn,
    StepOut,
    TransferIn,
    WithdrawIn,
)

router = Router(tags=[_("学籍变动")])

In = TypeVar("In", bound=Schema)
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


# ---------------------------------------------------------------- output


def step_of(step: ApprovalStep) -> dict:
    return {
        "id": step.pk,
        "seq": step.seq,
        "party": step.party,
        "unit_id": step.unit_id,
        "unit_name": step.unit.name,
        "state": step.state,
        "days": step.days,
        "activated_on": step.activated_on,
        "due_date": step.due_date,
        "calendar_missing": step.calendar_missing,
        "acted_at": step.acted_at,
        "actor": step.actor_username,
        "refusal_reason": step.refusal_reason,
        "comment": step.comment,
    }


def material_of(material: Material) -> dict:
    return {
        "id": material.pk,
        "kind": material.kind,
        "name": material.name,
        "content_type": material.content_type,
        "size": material.size,
        "sha256": material.sha256,
        "uploaded_at": material.uploaded_at,
        "uploaded_by": material.uploaded_by,
    }


def _masked(name: str) -> str:
    return f"{name[:1]}{'*' * max(len(name) - 1, 1)}" if name else ""


def row_of(change: ChangeRequest, current: ApprovalStep | None) -> dict:
    return {
        "id": change.pk,
        "change_type": change.change_type,
        "state": change.state,
        "channel": change.channel,
        "student_id": change.student_id,
        "student_number_masked": change.student.number_masked,
        "student_name": change.student.name,
        "school_id": change.school_id,
        "school_name": change.school.name,
        "target_school_id": change.target_school_id,
        "target_school_name": change.target_school.name if change.target_school else "",
        "effective_date": change.effective_date,
        "reason": change.reason,
        "filed_at": change.filed_at,
        "filed_by": change.filed_by_username,
        "applicant_name_masked": _masked(change.applicant_name),
        "closed_at": change.closed_at,
        "current_step": step_of(current) if current is not None else None,
    }


def detail_of(detail: selectors.RequestDetail, *, user) -> dict:
    change = detail.request
    pending = next((s for s in detail.steps if s.state == "pending"), None)
    full = may_see_full_number(user, change.student)
    return {
        **row_of(change, pending),
        "student_number": identity.read_number(change.student) if full else None,
        "payload": change.payload,
        "closed_reason": change.closed_reason,
        "national_ruleset_version": change.national_ruleset.version
        if change.national_ruleset
        else None,
        "province_ruleset_version": change.province_ruleset.version
        if change.province_ruleset
        else None,
        "rule": change.rule,
        "steps": [step_of(s) for s in detail.steps],
        "materials": [material_of(m) for m in detail.materials],
        "handleable_step_id": detail.handleable.pk if detail.handleable else None,
    }


def _detail(request: HttpRequest, request_id: int) -> dict:
    user = request.auth  # type: ignore[attr-defined]
    detail = selectors.request_detail(user, request_id=request_id)
    note_read(user, [detail.request.student_id], kind=ReadKind.CHANGE, change_request=request_id)
    return detail_of(detail, user=user)


# ---------------------------------------------------------------- input: JSON or multipart


def _uploads(request: HttpRequest) -> list[tuple[str, UploadedFile]]:
    """Every file part, its field name taken as the material kind (checked by the service)."""
    return [(kind, upload) for kind, files in request.FILES.lists() for upload in files]


def _parse(request: HttpRequest, schema: type[In]) -> tuple[In, list[tuple[str, UploadedFile]]]:
    uploads: list[tuple[str, UploadedFile]] = []
    if (request.content_type or "") in FORM_TYPES:
        data: Any = {k: v for k, v in request.POST.items() if v != ""}
        if "payload" in data:
            try:
                data["payload"] = json.loads(data["payload"])
            except ValueError:
                raise ValidationFailed(
                    [FieldError("payload", "payload.invalid", _("payload 须为 JSON 对象"))]
                ) from None
        uploads = _uploads(request)
    else:
        try:
            data = json.loads(request.body or b"{}")
        except ValueError:
            raise ValidationFailed(
                [FieldError("body", "body.invalid", _("请求体须为 JSON 对象"))]
            ) from None
    try:
        return schema.model_validate(data), uploads
    except pydantic.ValidationError as error:
        raise ValidationFailed(
            [
                FieldError(".".join(str(p) for p in item["loc"]) or "body", "invalid", item["msg"])
                for item in error.errors()
            ]
        ) from None


def _body_doc(schema: type[Schema], description: str) -> dict:
    """The OpenAPI request body of a filing: the schema as JSON, or the same fields as
    multipart with ``payload`` as a JSON string and one file part per material kind."""
    json_schema = schema.model_json_schema()
    form_properties = {**json_schema.get("properties", {})}
    form_properties["payload"] = {"type": "string", "description": "JSON object"}
    for kind in MaterialKind.values:
        form_properties[kind] = {"type": "string", "format": "binary"}
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {
                "application/json": {"schema": json_schema},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": form_properties,
                        "required": json_schema.get("required", []),
                    }
                },
            },
        }
    }


# ---------------------------------------------------------------- reads


def _with_pending(rows):
    """Each request's pending step in one more query (``pending_steps``)."""
    return rows.prefetch_related(
        Prefetch(
            "steps",
            queryset=ApprovalStep.objects.filter(state=StepState.PENDING).select_related("unit"),
            to_attr="pending_steps",
        )
    )


class ChangeQuery(Schema):
    state: str = ""
    change_type: str = ""
    q: str = ""
    school_id: Integer | None = None
    after: Integer | None = None
    limit: Integer = 50


@router.get("/changes", response=ChangePage, summary=_("学籍变动申请列表（键集分页）"))
def list_changes(request: HttpRequest, query: Query[ChangeQuery]):
    """Requests either side of which lies in the caller's scope, newest first; ``after``
    is the ``next_cursor`` of the previous page. A student number goes in the body of
    ``POST /api/changes/search``, never in the URL."""
    search.refuse_in_url(query.q, search_path="/api/changes/search")
    return _change_page(request, query)


@router.post(
    "/changes/search",
    response=ChangePage,
    summary=_("按学籍号或姓名检索学籍变动申请（检索词在请求正文中，不进网址）"),
)
def search_changes(request: HttpRequest, query: ChangeQuery):
    return _change_page(request, query)


def _change_page(request: HttpRequest, query: ChangeQuery) -> dict:
    rows = selectors.request_list(
        request.auth,  # type: ignore[attr-defined]
        state=query.state,
        change_type=query.change_type,
        q=query.q,
        school_id=query.school_id,
    ).order_by("-pk")
    if query.after:
        rows = rows.filter(pk__lt=query.after)
    limit = max(1, min(query.limit, 500))
    page = list(_with_pending(rows)[: limit + 1])
    note_read(request.auth, [c.student_id for c in page[:limit]], kind=ReadKind.CHANGE)  # type: ignore[attr-defined]
    items = [row_of(c, next(iter(c.pending_steps), None)) for c in page[:limit]]
    return {"items": items, "next_cursor": page[limit - 1].pk if len(page) > limit else None}


@router.get(
    "/changes/queue", response=list[QueueItemOut], summary=_("本单位待办环节（最紧急的在前）")
)
def change_queue(request: HttpRequest):
    steps = list(selectors.review_queue(request.auth).select_related("unit"))  # type: ignore[attr-defined]
    note_read(request.auth, [s.request.student_id for s in steps], kind=ReadKind.CHANGE)  # type: ignore[attr-defined]
    return [{"step": step_of(s), "request": row_of(s.request, s)} for s in steps]


@router.get(
    "/changes/{int:request_id}", response=ChangeDetailOut, summary=_("一项申请（含核办环节和材料）")
)
def get_change(request: HttpRequest, request_id: int):
    return _detail(request, request_id)


# ---------------------------------------------------------------- filing


@router.post(
    "/changes",
    response={201: ChangeDetailOut},
    summary=_("申请学籍变动（转学以外；JSON 或 multipart 含材料）"),
    openapi_extra=_body_doc(ChangeIn, "JSON, or multipart with one file part per material kind"),
)
def file_change(request: HttpRequest):
    data, uploads = _parse(request, ChangeIn)
    change = services.change_file(
        actor=request.auth,  # type: ignore[attr-defined]
        student_id=data.student_id,
        change_type=data.change_type,
        effective_date=data.effective_date or clock.today(),
        reason=data.reason,
        payload=data.payload,
        target_school_id=data.target_school_id,
        uploads=uploads,
    )
    return Status(201, _detail(request, change.pk))


@router.post(
    "/changes/transfers",
    response={201: ChangeDetailOut},
    summary=_("转入学校发起转学（JSON 或 multipart 含材料）"),
    openapi_extra=_body_doc(TransferIn, "JSON, or multipart with one file part per material kind"),
)
def file_transfer(request: HttpRequest):
    data, uploads = _parse(request, TransferIn)
    change = services.transfer_file(
        actor=request.auth,  # type: ignore[attr-defined]
        student_number=data.student_number,
        student_name=data.student_name,
        effective_date=data.effective_date,
        reason=data.reason,
        payload=data.payload,
        uploads=uploads,
        target_school_id=data.target_school_id,
    )
    return Status(201, _detail(request, change.pk))


@router.post(
    "/changes/{int:request_id}/materials",
    response={201: list[MaterialOut]},
    summary=_("补充材料（multipart，文件字段名为材料类别）"),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            kind: {"type": "string", "format": "binary"}
                            for kind in MaterialKind.values
                        },
                    }
                }
            },
        }
    },
)
def add_materials(request: HttpRequest, request_id: int):
    uploads = _uploads(request)
    if not uploads:
        raise ValidationFailed([FieldError("materials", "material.none", _("请上传至少一份材料"))])
    saved = services.material_add(actor=request.auth, request_id=request_id, uploads=uploads)  # type: ignore[attr-defined]
    return Status(201, [material_of(m) for m in saved])


# ---------------------------------------------------------------- handling and withdrawing


@router.post(
    "/changes/steps/{int:step_id}/approve",
    response=ChangeDetailOut,
    summary=_("同意本单位的待办环节（最后一个环节同意即办结）"),
)
def approve_step(request: HttpRequest, step_id: int):
    change = services.step_handle(actor=request.auth, step_id=step_id, approve=True)  # type: ignore[attr-defined]
    return _detail(request, change.pk)


@router.post(
    "/changes/steps/{int:step_id}/refuse",
    response=ChangeDetailOut,
    summary=_("不同意本单位的待办环节（须选择理由并写明说明）"),
)
def refuse_step(request: HttpRequest, step_id: int, payload: RefuseIn):
    change = services.step_handle(
        actor=request.auth,  # type: ignore[attr-defined]
        step_id=step_id,
        approve=False,
        refusal_reason=payload.refusal_reason,
        comment=payload.comment,
    )
    return _detail(request, change.pk)


@router.post(
    "/changes/{int:request_id}/withdraw",
    response=ChangeDetailOut,
    summary=_("撤回申请（申请单位或上级主管部门，须写明原因）"),
)
def withdraw_change(request: HttpRequest, request_id: int, payload: WithdrawIn):
    services.change_withdraw(actor=request.auth, request_id=request_id, reason=payload.reason)  # type: ignore[attr-defined]
    return _detail(request, request_id)


StepOut.model_rebuild()

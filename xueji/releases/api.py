"""Data releases over the API: the same services and selectors as the pages."""

from datetime import date, datetime

from django.http import FileResponse, HttpRequest
from ninja import File, Form, Router, Schema, Status
from ninja.files import UploadedFile
from pydantic import StrictInt

from xueji import clock
from xueji.i18n import gettext_lazy_str as _
from xueji.paging import offset_query

from . import selectors, services
from .models import DataRelease
from .permissions import access_basis_document, access_release
from .rules import downloadable

router = Router(tags=[_("数据发布")])

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}


class ReleaseOut(Schema):
    id: int
    reference: str
    state: str
    unit_name: str
    purpose: str
    basis_kind: str
    basis_law: str
    basis_authority: str
    basis_level: str
    basis_document_no: str
    has_basis_document: bool
    kind: str
    fields: list[str]
    scope_label: str
    filters: dict
    identifiers: str
    birth: str
    k: int
    threshold: int
    output_format: str
    recipient_organisation: str
    recipient_username: str
    expires_on: date
    requested_by: str
    requested_at: datetime
    reviewed_by: str | None
    reviewed_at: datetime | None
    approver_name: str
    approver_unit_name: str | None
    approved_at: datetime | None
    rejection_reason: str
    population_count: int | None
    row_count: int | None
    suppressed_count: int | None
    generated_at: datetime | None
    downloadable: bool


class DecisionIn(Schema):
    decision: str
    note: str = ""


class PublicationIn(Schema):
    kind: str
    # Counts, never true/false: pydantic's lax int takes a boolean as 1/0 (the fuzzer's
    # "invalid data accepted").
    cells: list[StrictInt]


class PublicationOut(Schema):
    route: str
    threshold: int


def release_out(release: DataRelease) -> dict:
    return {
        "id": release.pk,
        "reference": release.reference,
        "state": release.state,
        "unit_name": release.unit.name,
        "purpose": release.purpose,
        "basis_kind": release.basis_kind,
        "basis_law": release.basis_law,
        "basis_authority": release.basis_authority,
        "basis_level": release.basis_level,
        "basis_document_no": release.basis_document_no,
        "has_basis_document": bool(release.basis_document),
        "kind": release.kind,
        "fields": release.fields,
        "scope_label": release.scope_label,
        "filters": release.filters,
        "identifiers": release.identifiers,
        "birth": release.birth,
        "k": release.k,
        "threshold": release.threshold,
        "output_format": release.output_format,
        "recipient_organisation": release.recipient_organisation,
        "recipient_username": release.recipient.username,
        "expires_on": release.expires_on,
        "requested_by": release.requested_by.username,
        "requested_at": release.requested_at,
        "reviewed_by": release.reviewed_by.username if release.reviewed_by else None,
        "reviewed_at": release.reviewed_at,
        "approver_name": release.approver_name,
        "approver_unit_name": release.approver_unit.name if release.approver_unit else None,
        "approved_at": release.approved_at,
        "rejection_reason": release.rejection_reason,
        "population_count": release.population_count,
        "row_count": release.row_count,
        "suppressed_count": release.suppressed_count,
        "generated_at": release.generated_at,
        "downloadable": downloadable(
            state=release.state, expires_on=release.expires_on, today=clock.today()
        ),
    }


def _list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _date(value: str) -> date | None:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        return None


@router.get(
    "/releases",
    response=list[ReleaseOut],
    summary=_("数据发布：本辖区的申请和发给本人的数据"),
)
def list_releases(request: HttpRequest, offset: int = offset_query(), limit: int = 50):
    releases = selectors.releases_visible(request.auth).select_related(  # type: ignore[attr-defined]
        "requested_by", "reviewed_by"
    )
    offset = max(0, offset)
    return [release_out(r) for r in releases[offset : offset + max(1, min(limit, 500))]]


@router.post(
    "/releases",
    response={201: ReleaseOut},
    summary=_("申请数据发布（字段、学段、年级、状态用逗号分隔；人民政府批准文件随附上传）"),
)
def request_release(
    request: HttpRequest,
    basis_document: File[UploadedFile | None] = None,
    purpose: Form[str] = "",
    basis_kind: Form[str] = "",
    basis_law: Form[str] = "",
    basis_authority: Form[str] = "",
    basis_level: Form[str] = "",
    basis_document_no: Form[str] = "",
    kind: Form[str] = "rows",
    fields: Form[str] = "",
    area_code: Form[str] = "",
    school_code: Form[str] = "",
    stages: Form[str] = "",
    grades: Form[str] = "",
    states: Form[str] = "",
    identifiers: Form[str] = "pseudonym",
    birth: Form[str] = "year",
    k: Form[int | None] = None,
    threshold: Form[int | None] = None,
    output_format: Form[str] = "csv",
    recipient_organisation: Form[str] = "",
    recipient_username: Form[str] = "",
    expires_on: Form[str] = "",
):
    data = services.ReleaseInput(
        purpose=purpose,
        basis_kind=basis_kind,
        basis_law=basis_law,
        basis_authority=basis_authority,
        basis_level=basis_level,
        basis_document_no=basis_document_no,
        kind=kind,
        fields=_list(fields),
        area_code=area_code,
        school_code=school_code,
        stages=_list(stages),
        grades=_list(grades),
        states=_list(states),
        identifiers=identifiers,
        birth=birth,
        k=k,
        threshold=threshold,
        output_format=output_format,
        recipient_organisation=recipient_organisation,
        recipient_username=recipient_username,
        expires_on=_date(expires_on),
    )
    release = services.release_request(
        actor=request.auth,  # type: ignore[attr-defined]
        data=data,
        document=basis_document,
    )
    return Status(201, release_out(access_release(request.auth, release_id=release.pk)))  # type: ignore[attr-defined]


@router.get("/releases/{int:release_id}", response=ReleaseOut, summary=_("一项数据发布"))
def get_release(request: HttpRequest, release_id: int):
    return release_out(access_release(request.auth, release_id=release_id))  # type: ignore[attr-defined]


@router.post(
    "/releases/{int:release_id}/review",
    response=ReleaseOut,
    summary=_("审核数据发布申请（申请单位的审核员；decision: pass 或 reject）"),
)
def review_release(request: HttpRequest, release_id: int, payload: DecisionIn):
    user = request.auth  # type: ignore[attr-defined]
    services.release_review(
        actor=user, release_id=release_id, decision=payload.decision, note=payload.note
    )
    return release_out(access_release(user, release_id=release_id))


@router.post(
    "/releases/{int:release_id}/approval",
    response=ReleaseOut,
    summary=_("批准数据发布（县级以上教育行政部门；decision: approve 或 reject），批准后生成文件"),
)
def approve_release(request: HttpRequest, release_id: int, payload: DecisionIn):
    user = request.auth  # type: ignore[attr-defined]
    services.release_approve(
        actor=user, release_id=release_id, decision=payload.decision, note=payload.note
    )
    return release_out(access_release(user, release_id=release_id))


@router.get(
    "/releases/{int:release_id}/file",
    summary=_("下载数据发布文件（仅限接收人，截止日期前；记入审计）"),
    openapi_extra={
        "responses": {
            200: {
                "description": _("去标识化、带水印的发布文件"),
                "content": {
                    t: {"schema": {"type": "string", "format": "binary"}}
                    for t in CONTENT_TYPES.values()
                },
            },
            409: {"description": _("尚未生成文件"), "content": _ERROR},
        }
    },
)
def download_release(request: HttpRequest, release_id: int):
    release, handle = services.release_download_open(
        actor=request.auth,  # type: ignore[attr-defined]
        release_id=release_id,
    )
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=f"{release.reference}.{release.output_format}",
        content_type=CONTENT_TYPES[release.output_format],
    )
    response["Cache-Control"] = "no-store"
    return response


@router.get(
    "/releases/{int:release_id}/basis-document",
    summary=_("查看数据发布的人民政府批准文件（记入审计）"),
    openapi_extra={
        "responses": {
            200: {
                "description": _("上传的批准文件（PDF、JPG 或 PNG）"),
                "content": {
                    t: {"schema": {"type": "string", "format": "binary"}}
                    for t in ("application/pdf", "image/jpeg", "image/png")
                },
            }
        }
    },
)
def release_basis_document(request: HttpRequest, release_id: int):
    user = request.auth  # type: ignore[attr-defined]
    release = access_basis_document(user, release_id=release_id)
    handle = services.release_basis_open(actor=user, release=release)
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=f"{release.reference}-批准文件{release.basis_document.name[-4:]}",
        content_type=release.basis_document_type,
    )
    response["Cache-Control"] = "no-store"
    return response


@router.post(
    "/releases/publication-check",
    response=PublicationOut,
    summary=_("统计数据能否直接公开：各单元格均不少于抑制阈值的汇总表可以，其余须申请数据发布"),
)
def publication_check(request: HttpRequest, payload: PublicationIn):
    check = services.publication_check(kind=payload.kind, cells=payload.cells)
    return {"route": check.route, "threshold": check.threshold}

"""Students over the API. Bodies parse, call one selector or service, and shape output."""

from dataclasses import asdict

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema, Status

from xueji.accounts.permissions import require_permission
from xueji.accounts.rules import Permission
from xueji.api_types import Integer, IsoDate
from xueji.audit.reads import ReadKind, note_read
from xueji.enrolment.history import history_rows
from xueji.i18n import gettext_lazy_str as _
from xueji.web import search

from . import disclosure, identity, selectors, services
from .models import Student
from .permissions import may_see_full_number
from .schemas import (
    AsOfOut,
    CorrectIn,
    EventOut,
    NonBasicSchemaIn,
    NonBasicSchemaOut,
    RegisterIn,
    RegisterOut,
    RegistrationIn,
    RevealIn,
    RevealOut,
    StudentDetailOut,
    StudentPage,
    ValidationOut,
)

router = Router(tags=[_("学生")])


class StudentQuery(Schema):
    q: str = ""
    school_id: Integer | None = None
    grade: str = ""
    class_name: str = ""
    state: str = ""
    after: Integer | None = None
    limit: Integer = 50


def row_of(student: Student) -> dict:
    record = student.record
    return {
        "id": student.pk,
        "number_masked": student.number_masked,
        "number_kind": student.number_kind,
        "name": student.name,
        "sex": student.sex,
        "birth_date": student.birth_date,
        "id_type": student.id_type,
        "id_number_masked": identity.masked_id(student),
        "school_id": record.school_id,
        "school_name": record.school.name,
        "stage": record.stage,
        "grade": record.grade,
        "class_name": record.class_name,
        "state": record.state,
    }


def event_of(row: dict) -> dict:
    """One history entry (a row of ``history_rows``)."""
    event = row["event"]
    return {
        "kind": event.kind,
        "title": row["kind"],
        "change": row["change"],
        "effective_date": event.effective_date,
        "occurred_at": event.occurred_at,
        "actor": event.actor_username,
        "from_state": event.from_state,
        "to_state": event.to_state,
        "school_id": event.school_id,
        "school_name": event.school.name,
        "stage": event.stage,
        "grade": event.grade,
        "class_name": event.class_name,
        "reason": event.reason,
        "batch": event.batch,
        "change_type": event.change_type,
        "request_id": event.request_id,
    }


def detail_of(detail: selectors.StudentDetail, *, user) -> dict:
    """One student's detail. ``number`` is the full student number for the accounts that
    see it without asking (``may_see_full_number``) and ``null`` for everyone else, who
    reveal it with a reason (POST …/reveal, ``field`` ``number``)."""
    student = detail.student
    full = may_see_full_number(user, student)
    record = student.record
    non_basic = getattr(student, "non_basic", None)
    field_types = (
        {f.get("key"): f.get("type", "") for f in non_basic.schema.fields} if non_basic else {}
    )
    return {
        **row_of(student),
        "number": identity.read_number(student) if full else None,
        **{
            f: getattr(student, f)
            for f in (
                "former_name",
                "name_pinyin",
                "birthplace_code",
                "native_place_code",
                "ethnicity",
                "nationality",
                "id_valid_until",
                "hmt_code",
                "household_place_code",
                "household_type",
                "health",
                "frozen",
            )
        },
        "entry_date": record.entry_date,
        "entry_mode": record.entry_mode,
        "attendance": record.attendance,
        "programme": record.programme,
        "guardians": [
            {
                "id": g.pk,  # names the guardian in a reveal: guardian:<id>:phone
                "name": g.name,
                "relation": g.relation,
                "id_type": g.id_type,
                "id_number_masked": identity.masked_id(g),
                "phone_masked": identity.mask_number(g.phone),
            }
            for g in student.guardians.all()
        ],
        # Phones and addresses are masked; POST …/reveal shows one, with a reason.
        "non_basic": {
            k: identity.mask_non_basic(k, v, field_types.get(k, ""))
            for k, v in (non_basic.data if non_basic else {}).items()
        },
        "numbers": [
            {
                "number": identity.read_number(n) if full else None,
                "number_masked": n.number_masked,
                "kind": n.kind,
                "issued_at": n.issued_at,
                "retired_at": n.retired_at,
                "reason": n.reason,
            }
            for n in detail.numbers
        ],
        "history": [event_of(row) for row in history_rows(detail.events)],
    }


@router.get(
    "/students", response=StudentPage, summary=_("学生列表（精确检索，键集分页，证件号脱敏）")
)
def list_students(request: HttpRequest, query: Query[StudentQuery]):
    search.refuse_in_url(query.q, search_path="/api/students/search")
    return _student_page(request, query)


@router.post(
    "/students/search",
    response=StudentPage,
    summary=_("按学籍号、身份证件号或姓名检索学生（检索词在请求正文中，不进网址）"),
)
def search_students(request: HttpRequest, query: StudentQuery):
    return _student_page(request, query)


def _student_page(request: HttpRequest, query: StudentQuery) -> dict:
    user = request.auth  # type: ignore[attr-defined]
    require_permission(user, Permission.STUDENT_VIEW)
    page = selectors.student_list(
        user,
        filters=selectors.StudentFilters(
            q=query.q,
            school_id=query.school_id,
            grade=query.grade,
            class_name=query.class_name,
            state=query.state,
        ),
        after=query.after,
        limit=max(1, min(query.limit, 500)),
    )
    note_read(user, page.rows, kind=ReadKind.SEARCH if query.q else ReadKind.LIST)
    return {"items": [row_of(s) for s in page.rows], "next_cursor": page.next_cursor}


@router.get(
    "/students/{int:student_id}", response=StudentDetailOut, summary=_("学生详情（含学籍历史）")
)
def get_student(request: HttpRequest, student_id: int):
    user = request.auth  # type: ignore[attr-defined]
    require_permission(user, Permission.STUDENT_VIEW)
    detail = selectors.student_detail(user, student_id=student_id)
    note_read(user, [detail.student], kind=ReadKind.DETAIL)
    return detail_of(detail, user=user)


@router.patch(
    "/students/{int:student_id}",
    response=StudentDetailOut,
    summary=_("更正基础信息（须填写原因；毕业后冻结）"),
)
def correct_student(request: HttpRequest, student_id: int, payload: CorrectIn):
    """``changes``: basic fields by their registration names (``name``, ``sex``,
    ``birth_date``, ``ethnicity``, ``nationality``, ``id_type``, ``id_number`` …)."""
    user = request.auth  # type: ignore[attr-defined]
    services.student_correct(
        actor=user, student_id=student_id, changes=payload.changes, reason=payload.reason
    )
    return detail_of(selectors.student_detail(user, student_id=student_id), user=user)


@router.get("/students/{int:student_id}/as-of", response=AsOfOut, summary=_("某日的学籍状况"))
def student_as_of(request: HttpRequest, student_id: int, on: IsoDate):
    user = request.auth  # type: ignore[attr-defined]
    require_permission(user, Permission.STUDENT_VIEW)
    event = selectors.status_as_of(user, student_id=student_id, on=on)
    note_read(user, [student_id], kind=ReadKind.AS_OF, on=on.isoformat())
    return {
        "date": on,
        "found": event is not None,
        "event": event_of(history_rows([event])[0]) if event else None,
    }


@router.post(
    "/students/{int:student_id}/reveal",
    response=RevealOut,
    summary=_("显示一项脱敏信息的完整内容（须填写事由，记入审计）"),
)
def reveal_student_field(
    request: HttpRequest, response: HttpResponse, student_id: int, payload: RevealIn
):
    """``field``: ``id_number``, ``number`` (the student number), ``phone``, ``address``, ``household_address``,
    ``guardian:<id>:id_number`` or ``guardian:<id>:phone``; ``reason``: why the task needs it."""
    response["Cache-Control"] = "no-store"
    value = services.student_reveal(
        actor=request.auth,  # type: ignore[attr-defined]
        student_id=student_id,
        field=payload.field,
        reason=payload.reason,
    )
    return {"value": value}


@router.post("/students/validate", response=ValidationOut, summary=_("校验注册信息（不保存）"))
def validate_student(request: HttpRequest, payload: RegistrationIn):
    data = payload.dict()
    data["guardians"] = [g for g in data.get("guardians", [])]
    check = services.student_check_registration(actor=request.auth, data=data)  # type: ignore[attr-defined]
    outside = check.existing_outside
    # What the answer shows in full is a read; an exact match outside scope is audited as
    # student.duplicate_outside by the check itself (disclosure).
    shown = [check.existing.pk] if check.existing and not outside else []
    shown += [candidate.student_id for candidate in check.candidates]
    if shown:
        note_read(request.auth, shown, kind=ReadKind.CHECK)  # type: ignore[attr-defined]
    return {
        "ok": check.ok,
        "errors": [e.as_dict() for e in check.errors],
        "existing_number_masked": (
            check.existing.number_masked if check.existing and not outside else None
        ),
        "existing_action": check.existing_action,
        "existing_outside": outside,
        "existing_message": check.holder.message if check.holder else "",
        "candidates": [asdict(c) for c in check.candidates],
        "outside_candidates": bool(check.outside_candidates),
        "outside_message": str(disclosure.OUTSIDE_CANDIDATES) if check.outside_candidates else "",
        "number_kind": check.number_kind,
    }


@router.post(
    "/students", response={201: RegisterOut, 200: RegisterOut}, summary=_("注册学生（先查重）")
)
def register_student(request: HttpRequest, payload: RegisterIn):
    user = request.auth  # type: ignore[attr-defined]
    data = payload.dict()
    confirm = data.pop("confirm_distinct")
    reactivate = data.pop("reactivate")
    result = services.student_register(
        actor=user, data=data, confirm_distinct=confirm, reactivate=reactivate
    )
    detail = selectors.student_detail(user, student_id=result.student.pk)
    return Status(
        200 if result.reactivated else 201,
        {
            "student": detail_of(detail, user=user),
            "reactivated": result.reactivated,
        },
    )


@router.get(
    "/nonbasic-schemas",
    response=list[NonBasicSchemaOut],
    summary=_("非基础信息方案（各省备案版本）"),
)
def list_nonbasic_schemas(request: HttpRequest):
    user = request.auth  # type: ignore[attr-defined]
    require_permission(user, Permission.DIVISION_VIEW)
    return selectors.nonbasic_schemas_visible(user)


@router.post(
    "/nonbasic-schemas",
    response={201: NonBasicSchemaOut},
    summary=_("备案本省非基础信息方案（新版本）"),
)
def file_nonbasic_schema(request: HttpRequest, payload: NonBasicSchemaIn):
    fields = [f.dict() for f in payload.fields]
    schema = services.nonbasic_schema_file(actor=request.auth, fields=fields, note=payload.note)  # type: ignore[attr-defined]
    return Status(201, schema)


EventOut.model_rebuild()

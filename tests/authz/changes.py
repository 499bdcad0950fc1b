"""Routes of the change engine's pages and API (xueji/changes: views.py, api.py).

``setup`` builds, for the matrix's school A (440106) and its student:

- ``{transfer}``: a transfer of ``world.student`` to a third school of the same county
  (天河), filed by that school and approved by the county, so the pending step is school
  A's own (the sending school) — ``{step}``. Either side's scope sees the request (school
  A, the 440106 county); the 510104 actors see nothing. Only school A's clerk handles
  ``{step}``: the county reviewer sees the request but the step is not its unit's (404).
- ``{material}``: the transfer's application form.
- ``{own_request}``: a change school A's clerk filed for a second student (the filer, and
  the county above it, may withdraw it).
- ``{free_student}``: a third student of school A with no open request (filing samples).

Starting a transfer (``api:file_transfer``) is open to any school's clerk for a student
named by number and name anywhere, so the matrix's in/out split does not apply: the
sample names a number with the wrong name, which every unit meets as 404 (numbers cannot
be probed for names); the allowed and refused cases are in xueji/changes/tests.
"""

from django.core.files.uploadedfile import SimpleUploadedFile

from tests.authz.vocab import LIST, NONE, OBJECT, TARGET, UNIT, UNIT_LIST, Policy, Sample
from tests.factories import SchoolFactory, make_user, registration
from xueji.accounts.rules import Permission as V

PDF = b"%PDF-1.4\n% matrix\n"


def _pdf(name: str = "matrix.pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PDF, content_type="application/pdf")


def _file_body(world) -> dict:
    return {"student_id": world.extra["free_student"], "change_type": "leave", "reason": "矩阵"}


def _transfer_probe(world) -> dict:
    return {
        "student_number": world.student.number,
        "student_name": "不是这个名字",
        "reason": "矩阵",
        # Reviewers name a receiving school: 510104's (out of 440106's scope: 404 there too).
        "target_school_id": world.other_school.pk,
    }


POLICY: dict[str, Policy] = {
    # -- pages --------------------------------------------------------------------------------
    "changes:list": Policy(
        "changes/", V.CHANGE_VIEW, LIST, sample=Sample("GET", "/changes/?state=open")
    ),
    "changes:detail": Policy(
        "changes/<int:request_id>/",
        V.CHANGE_VIEW,
        OBJECT,
        sample=Sample("GET", "/changes/{transfer}/"),
        # The detail of a request of its own student: the clerk of the holding school.
        full_number=("clerk_in",),
    ),
    "changes:queue": Policy(
        "changes/queue/", V.CHANGE_HANDLE, UNIT_LIST, sample=Sample("GET", "/changes/queue/")
    ),
    # The receiving school (its own) or an authority (a school in its scope): the blank form.
    "changes:transfer_new": Policy(
        "changes/transfer/new/",
        V.CHANGE_FILE,
        TARGET,
        methods=("GET", "POST"),
        sample=Sample("GET", "/changes/transfer/new/", scope=NONE),
    ),
    # Filing for a student: the student must be in scope (404 otherwise), already on GET.
    "changes:new": Policy(
        "changes/new/",
        V.CHANGE_FILE,
        OBJECT,
        methods=("GET", "POST"),
        sample=Sample("GET", "/changes/new/?student={student}&type=leave"),
    ),
    "changes:withdraw": Policy(
        "changes/<int:request_id>/withdraw/",
        V.CHANGE_FILE,
        OBJECT,
        methods=("POST",),
        sample=Sample(
            "POST",
            "/changes/{own_request}/withdraw/",
            lambda w: {"reason": "矩阵撤回"},
            multipart=True,
            ok=302,
        ),
    ),
    "changes:materials_add": Policy(
        "changes/<int:request_id>/materials/",
        V.CHANGE_VIEW,
        OBJECT,
        methods=("POST",),
        sample=Sample(
            "POST",
            "/changes/{transfer}/materials/",
            lambda w: {"kind": "residence", "file": _pdf()},
            multipart=True,
            ok=302,
        ),
    ),
    "changes:material": Policy(
        "changes/materials/<int:material_id>/",
        V.CHANGE_VIEW,
        OBJECT,
        sample=Sample("GET", "/changes/materials/{material}/"),
    ),
    # A pending step of the actor's own unit only: everyone else meets 404.
    "changes:approve": Policy(
        "changes/steps/<int:step_id>/approve/",
        V.CHANGE_HANDLE,
        UNIT,
        methods=("GET", "POST"),
        sample=Sample("GET", "/changes/steps/{step}/approve/"),
    ),
    "changes:refuse": Policy(
        "changes/steps/<int:step_id>/refuse/",
        V.CHANGE_HANDLE,
        UNIT,
        methods=("GET", "POST"),
        sample=Sample("GET", "/changes/steps/{step}/refuse/"),
    ),
    # -- the API ------------------------------------------------------------------------------
    "api:list_changes": Policy(
        "api/changes", V.CHANGE_VIEW, LIST, sample=Sample("GET", "/api/changes")
    ),
    "api:search_changes": Policy(
        "api/changes/search",
        V.CHANGE_VIEW,
        LIST,
        methods=("POST",),
        sample=Sample("POST", "/api/changes/search", lambda w: {"q": ""}),
    ),
    "api:file_change": Policy(
        "api/changes",
        V.CHANGE_FILE,
        OBJECT,
        methods=("POST",),
        sample=Sample("POST", "/api/changes", _file_body, ok=201),
        # The detail of a request of its own student: the clerk of the holding school.
        full_number=("clerk_in",),
    ),
    "api:change_queue": Policy(
        "api/changes/queue", V.CHANGE_HANDLE, UNIT_LIST, sample=Sample("GET", "/api/changes/queue")
    ),
    "api:get_change": Policy(
        "api/changes/<int:request_id>",
        V.CHANGE_VIEW,
        OBJECT,
        sample=Sample("GET", "/api/changes/{transfer}"),
        # The detail of a request of its own student: the clerk of the holding school.
        full_number=("clerk_in",),
    ),
    "api:file_transfer": Policy(
        "api/changes/transfers",
        V.CHANGE_FILE,
        NONE,
        methods=("POST",),
        sample=Sample("POST", "/api/changes/transfers", _transfer_probe, ok=404),
    ),
    "api:add_materials": Policy(
        "api/changes/<int:request_id>/materials",
        V.CHANGE_VIEW,
        OBJECT,
        methods=("POST",),
        sample=Sample(
            "POST",
            "/api/changes/{transfer}/materials",
            lambda w: {"residence": _pdf()},
            multipart=True,
            ok=201,
        ),
    ),
    "api:approve_step": Policy(
        "api/changes/steps/<int:step_id>/approve",
        V.CHANGE_HANDLE,
        UNIT,
        methods=("POST",),
        sample=Sample("POST", "/api/changes/steps/{step}/approve"),
        # The detail of a request of its own student: the clerk of the holding school.
        full_number=("clerk_in",),
    ),
    "api:refuse_step": Policy(
        "api/changes/steps/<int:step_id>/refuse",
        V.CHANGE_HANDLE,
        UNIT,
        methods=("POST",),
        sample=Sample(
            "POST",
            "/api/changes/steps/{step}/refuse",
            lambda w: {"refusal_reason": "other", "comment": "矩阵"},
        ),
        # The detail of a request of its own student: the clerk of the holding school.
        full_number=("clerk_in",),
    ),
    "api:withdraw_change": Policy(
        "api/changes/<int:request_id>/withdraw",
        V.CHANGE_FILE,
        OBJECT,
        methods=("POST",),
        sample=Sample(
            "POST", "/api/changes/{own_request}/withdraw", lambda w: {"reason": "矩阵撤回"}
        ),
        # The detail of a request of its own student: the clerk of the holding school.
        full_number=("clerk_in",),
    ),
}


def setup(world) -> dict:
    from xueji.changes import services
    from xueji.changes.models import ApprovalStep
    from xueji.changes.rules import StepState
    from xueji.students.services import student_register
    from xueji.workdays.seeding import calendar_seed

    calendar_seed()  # deadlines are computed from the calendar (a flushed database lost it)
    clerk_a = world.actors["clerk_in"]
    receiving = SchoolFactory(name="矩阵转入小学", division_code="440106")
    transfer = services.transfer_file(
        actor=make_user(receiving.unit),
        student_number=world.student.number,
        student_name=world.student.name,
        reason="矩阵转学",
        uploads=[("application", _pdf("申请表.pdf"))],
    )
    county_step = ApprovalStep.objects.get(request=transfer, state=StepState.PENDING)
    services.step_handle(actor=world.actors["reviewer_in"], step_id=county_step.pk, approve=True)
    sending_step = ApprovalStep.objects.get(request=transfer, state=StepState.PENDING)

    def student(name: str):
        return student_register(
            actor=clerk_a, data=registration(world.school, name=name), confirm_distinct=True
        ).student

    own = services.change_file(
        actor=clerk_a,
        student_id=student("矩阵肄业生").pk,
        change_type="leave",
        effective_date=transfer.filed_at.date(),
        reason="矩阵",
    )
    return {
        "transfer": transfer.pk,
        "step": sending_step.pk,
        "material": transfer.materials.get().pk,
        "own_request": own.pk,
        "free_student": student("矩阵空闲生").pk,
    }

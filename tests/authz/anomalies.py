"""Routes of the anomaly pages and API (xueji/anomalies: views.py, api.py).

``setup`` plants, at the matrix's school A (440106):

- ``{finding}``: ``world.student`` registered a second time without an ID (an L number):
  a duplicate pair at one school, so it is routed to school A's unit — school A's clerk
  and the 440106 county see it; the 510104 actors do not (404).
- ``{age_finding}``: an age-and-grade finding at school A, the one the "dismiss" samples
  use (a duplicate needs a merge or a verdict instead).
- ``{merge}``: a second pair at school A, merged by the county (the undo samples).

Resolving (merge, undo, "different people", dismiss) is for reviewers: school A's clerk
sees the findings but meets 403 there, like every clerk.
"""

from datetime import date

from django.core.files.uploadedfile import SimpleUploadedFile

from tests.authz.vocab import LIST, OBJECT, ROWS, Policy, Sample, World
from tests.factories import registration, resident_id
from xueji.accounts.rules import Permission as V


def _register(world: World, *, name: str, born: date, with_id: bool):
    from xueji.students.services import student_register

    data = registration(world.school, name=name, born=born)
    if with_id:
        data["id_number"] = resident_id("440106", born, "2")
    else:
        data["id_type"], data["id_number"] = "", ""
    return student_register(
        actor=world.actors["clerk_in"], data=data, confirm_distinct=True
    ).student


def setup(world: World) -> dict:
    from xueji import clock
    from xueji.anomalies.models import Finding
    from xueji.anomalies.rules import FindingKind
    from xueji.anomalies.services import detector_run, finding_merge

    student = world.student
    _register(world, name=student.name, born=student.birth_date, with_id=False)
    twin_born = date(2016, 2, 2)
    kept = _register(world, name="矩阵合并生", born=twin_born, with_id=True)
    _register(world, name="矩阵合并生", born=twin_born, with_id=False)
    detector_run(kind=FindingKind.DUPLICATE)
    pair = Finding.objects.get(kind=FindingKind.DUPLICATE, student=student)
    other_pair = Finding.objects.get(kind=FindingKind.DUPLICATE, student=kept)
    merge = finding_merge(
        actor=world.actors["reviewer_in"], finding_id=other_pair.pk, survivor_id=kept.pk
    )
    # Written directly (what the age detector would write): the dismissal samples' subject.
    now = clock.now()
    aged = Finding.objects.create(
        kind=FindingKind.AGE_GRADE,
        student=kept,
        unit=world.school.unit,
        evidence={"age": {"grade": "13", "age": 13, "usual_age": 8, "band": [6, 11]}},
        school_year=2025,
        semester=1,
        detected_at=now,
        last_seen_at=now,
    )
    return {"finding": pair.pk, "age_finding": aged.pk, "merge": merge.pk}


def _merge_body(world: World) -> dict:
    return {"survivor_id": world.student.pk, "reason": "矩阵"}


def _reason(prefix: str = ""):
    key = f"{prefix}-reason" if prefix else "reason"
    return lambda world: {key: "矩阵核对"}


def _sightings(world: World) -> dict:
    content = (
        f"学籍号,学校标识码,在校日期\n{world.student.number},{world.school.code},{date.today()}\n"
    )
    return {"file": SimpleUploadedFile("名单.csv", content.encode(), "text/csv")}


RESOLVE = V.ANOMALY_RESOLVE
POLICY: dict[str, Policy] = {
    # -- pages --------------------------------------------------------------------------------
    "anomalies:list": Policy(
        "anomalies/", V.ANOMALY_VIEW, LIST, sample=Sample("GET", "/anomalies/?state=all")
    ),
    "anomalies:quality": Policy(
        "anomalies/quality/",
        (V.ANOMALY_VIEW, V.STATISTICS_VIEW),
        LIST,
        sample=Sample("GET", "/anomalies/quality/"),
    ),
    # Rows naming a school outside the scope are refused inside the import.
    "anomalies:sightings": Policy(
        "anomalies/sightings/",
        V.ANOMALY_SIGHTING,
        ROWS,
        methods=("GET", "POST"),
        sample=Sample("GET", "/anomalies/sightings/"),
    ),
    "anomalies:detail": Policy(
        "anomalies/<int:finding_id>/",
        V.ANOMALY_VIEW,
        OBJECT,
        sample=Sample("GET", "/anomalies/{finding}/"),
    ),
    "anomalies:merge_create": Policy(
        "anomalies/<int:finding_id>/merge/",
        RESOLVE,
        OBJECT,
        methods=("POST",),
        sample=Sample("POST", "/anomalies/{finding}/merge/", _merge_body, multipart=True, ok=302),
    ),
    "anomalies:different": Policy(
        "anomalies/<int:finding_id>/different/",
        RESOLVE,
        OBJECT,
        methods=("POST",),
        sample=Sample(
            "POST", "/anomalies/{finding}/different/", _reason("different"), multipart=True, ok=302
        ),
    ),
    "anomalies:dismiss": Policy(
        "anomalies/<int:finding_id>/dismiss/",
        RESOLVE,
        OBJECT,
        methods=("POST",),
        sample=Sample(
            "POST", "/anomalies/{age_finding}/dismiss/", _reason("dismiss"), multipart=True, ok=302
        ),
    ),
    "anomalies:merge": Policy(
        "anomalies/merges/<int:merge_id>/",
        V.ANOMALY_VIEW,
        OBJECT,
        sample=Sample("GET", "/anomalies/merges/{merge}/"),
    ),
    "anomalies:merge_undo": Policy(
        "anomalies/merges/<int:merge_id>/undo/",
        RESOLVE,
        OBJECT,
        methods=("POST",),
        sample=Sample("POST", "/anomalies/merges/{merge}/undo/", _reason(), multipart=True, ok=302),
    ),
    # -- the API ------------------------------------------------------------------------------
    "api:list_findings": Policy(
        "api/anomalies/findings",
        V.ANOMALY_VIEW,
        LIST,
        sample=Sample("GET", "/api/anomalies/findings?state="),
    ),
    "api:get_finding": Policy(
        "api/anomalies/findings/<int:finding_id>",
        V.ANOMALY_VIEW,
        OBJECT,
        sample=Sample("GET", "/api/anomalies/findings/{finding}"),
    ),
    "api:merge_finding": Policy(
        "api/anomalies/findings/<int:finding_id>/merge",
        RESOLVE,
        OBJECT,
        methods=("POST",),
        sample=Sample("POST", "/api/anomalies/findings/{finding}/merge", _merge_body, ok=201),
    ),
    "api:mark_different": Policy(
        "api/anomalies/findings/<int:finding_id>/different",
        RESOLVE,
        OBJECT,
        methods=("POST",),
        sample=Sample("POST", "/api/anomalies/findings/{finding}/different", _reason()),
    ),
    "api:dismiss_finding": Policy(
        "api/anomalies/findings/<int:finding_id>/dismiss",
        RESOLVE,
        OBJECT,
        methods=("POST",),
        sample=Sample("POST", "/api/anomalies/findings/{age_finding}/dismiss", _reason()),
    ),
    "api:get_merge": Policy(
        "api/anomalies/merges/<int:merge_id>",
        V.ANOMALY_VIEW,
        OBJECT,
        sample=Sample("GET", "/api/anomalies/merges/{merge}"),
    ),
    "api:undo_merge": Policy(
        "api/anomalies/merges/<int:merge_id>/undo",
        RESOLVE,
        OBJECT,
        methods=("POST",),
        sample=Sample("POST", "/api/anomalies/merges/{merge}/undo", _reason()),
    ),
    "api:get_quality": Policy(
        "api/anomalies/quality",
        (V.ANOMALY_VIEW, V.STATISTICS_VIEW),
        LIST,
        sample=Sample("GET", "/api/anomalies/quality"),
    ),
    "api:import_sightings": Policy(
        "api/anomalies/sightings",
        V.ANOMALY_SIGHTING,
        ROWS,
        methods=("POST",),
        sample=Sample("POST", "/api/anomalies/sightings", _sightings, multipart=True),
    ),
}

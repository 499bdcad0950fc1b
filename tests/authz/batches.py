"""Routes of the promotion and graduation batches (xueji/enrolment: pages under /batches/,
API under /api/batches). A school clerk runs its own school, a reviewer its area; a run
outside the actor's scope is not found."""

from datetime import date

from tests.authz.vocab import LIST, NONE, OBJECT, TARGET, Policy, Sample, World
from xueji.accounts.rules import Permission as V


def setup(world: World) -> dict:
    """School A's clerk has a planned promotion and an interrupted graduation (last year)."""
    from xueji.enrolment import batches
    from xueji.enrolment.models import BatchRun, BatchState

    clerk = world.actors["clerk_in"]
    planned = batches.batch_promotion_plan(
        actor=clerk, scope=world.school.code, school_year=2026, cutoff=date(2026, 8, 31)
    )
    failed = batches.batch_graduation_plan(
        actor=clerk, school=world.school.code, cutoff=date(2025, 7, 1)
    )
    BatchRun.objects.filter(pk=failed.pk).update(state=BatchState.FAILED, confirmed_by=clerk)
    return {"batch_run": planned.pk, "failed_run": failed.pk}


def _promotion(world: World) -> dict:
    return {"scope": world.school.code, "school_year": 2026, "cutoff": "2026-08-31"}


def _graduation(world: World) -> dict:
    return {"school": world.school.code, "cutoff": "2026-07-01"}


POLICY: dict[str, Policy] = {
    # -- the API ------------------------------------------------------------------------------
    "api:list_batches": Policy(
        "api/batches", V.STATUS_BATCH, LIST, sample=Sample("GET", "/api/batches")
    ),
    "api:plan_promotion": Policy(
        "api/batches/promotions",
        V.STATUS_BATCH,
        TARGET,
        methods=("POST",),
        sample=Sample("POST", "/api/batches/promotions", _promotion, ok=201),
    ),
    "api:plan_graduation": Policy(
        "api/batches/graduations",
        V.STATUS_BATCH,
        TARGET,
        methods=("POST",),
        sample=Sample("POST", "/api/batches/graduations", _graduation, ok=201),
    ),
    "api:get_batch": Policy(
        "api/batches/<int:run_id>",
        V.STATUS_BATCH,
        OBJECT,
        sample=Sample("GET", "/api/batches/{batch_run}"),
    ),
    "api:confirm_batch": Policy(
        "api/batches/<int:run_id>/confirm",
        V.STATUS_BATCH,
        OBJECT,
        methods=("POST",),
        sample=Sample("POST", "/api/batches/{batch_run}/confirm", ok=202),
    ),
    "api:resume_batch": Policy(
        "api/batches/<int:run_id>/resume",
        V.STATUS_BATCH,
        OBJECT,
        methods=("POST",),
        sample=Sample("POST", "/api/batches/{failed_run}/resume", ok=202),
    ),
    # -- pages --------------------------------------------------------------------------------
    "batches:list": Policy("batches/", V.STATUS_BATCH, LIST, sample=Sample("GET", "/batches/")),
    "batches:promote": Policy(
        "batches/promote/",
        V.STATUS_BATCH,
        TARGET,
        methods=("GET", "POST"),
        sample=Sample("GET", "/batches/promote/", scope=NONE),
    ),
    "batches:graduate": Policy(
        "batches/graduate/",
        V.STATUS_BATCH,
        TARGET,
        methods=("GET", "POST"),
        sample=Sample("GET", "/batches/graduate/", scope=NONE),
    ),
    "batches:detail": Policy(
        "batches/<int:run_id>/",
        V.STATUS_BATCH,
        OBJECT,
        sample=Sample("GET", "/batches/{batch_run}/"),
    ),
    "batches:progress": Policy(
        "batches/<int:run_id>/progress/",
        V.STATUS_BATCH,
        OBJECT,
        sample=Sample("GET", "/batches/{batch_run}/progress/"),
    ),
    "batches:confirm": Policy(
        "batches/<int:run_id>/confirm/",
        V.STATUS_BATCH,
        OBJECT,
        methods=("POST",),
        sample=Sample("POST", "/batches/{batch_run}/confirm/", ok=302),
    ),
    "batches:resume": Policy(
        "batches/<int:run_id>/resume/",
        V.STATUS_BATCH,
        OBJECT,
        methods=("POST",),
        sample=Sample("POST", "/batches/{failed_run}/resume/", ok=302),
    ),
}

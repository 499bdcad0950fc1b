"""Promotion and graduation batches over the API: dry run, read, confirm, resume, list.

The real run is a background task; poll ``GET /batches/{id}`` for its progress.
"""

from django.http import HttpRequest
from ninja import Router, Status

from xueji.i18n import gettext_lazy_str as _

from . import batches
from .models import BatchRun
from .schemas import BatchRunDetailOut, BatchRunOut, GraduationIn, PromotionIn
from .tasks import run_batch

router = Router(tags=[_("升级与毕业")])


def _fresh(run: BatchRun) -> BatchRun:
    return BatchRun.objects.select_related("created_by", "confirmed_by").get(pk=run.pk)


@router.get("/batches", response=list[BatchRunOut], summary=_("辖区内的批量处理"))
def list_batches(request: HttpRequest, limit: int = 50):
    runs = batches.batch_runs_visible(request.auth)  # type: ignore[attr-defined]
    return list(runs.select_related("created_by", "confirmed_by")[: max(1, min(limit, 200))])


@router.post(
    "/batches/promotions",
    response={201: BatchRunDetailOut},
    summary=_("年度升级：试运行（不修改学籍，返回报告）"),
)
def plan_promotion(request: HttpRequest, payload: PromotionIn):
    run = batches.batch_promotion_plan(
        actor=request.auth,  # type: ignore[attr-defined]
        scope=payload.scope,
        school_year=payload.school_year,
        cutoff=payload.cutoff,
    )
    return Status(201, _fresh(run))


@router.post(
    "/batches/graduations",
    response={201: BatchRunDetailOut},
    summary=_("毕业、结业、肄业：试运行（按学校）"),
)
def plan_graduation(request: HttpRequest, payload: GraduationIn):
    run = batches.batch_graduation_plan(
        actor=request.auth,  # type: ignore[attr-defined]
        school=payload.school,
        cutoff=payload.cutoff,
        stage=payload.stage,
        completed=payload.completed,
        left=payload.left,
        school_year=payload.school_year,
    )
    return Status(201, _fresh(run))


@router.get("/batches/{int:run_id}", response=BatchRunDetailOut, summary=_("批次的报告与进度"))
def get_batch(request: HttpRequest, run_id: int):
    return batches.access_batch_run(request.auth, run_id=run_id)  # type: ignore[attr-defined]


@router.post(
    "/batches/{int:run_id}/confirm",
    response={202: BatchRunOut},
    summary=_("确认执行（后台任务）"),
)
def confirm_batch(request: HttpRequest, run_id: int):
    run = batches.batch_run_confirm(actor=request.auth, run_id=run_id)  # type: ignore[attr-defined]
    run_batch.enqueue(run.pk)
    return Status(202, _fresh(run))


@router.post(
    "/batches/{int:run_id}/resume",
    response={202: BatchRunOut},
    summary=_("继续执行中断的批次（后台任务）"),
)
def resume_batch(request: HttpRequest, run_id: int):
    run = batches.batch_run_resume(actor=request.auth, run_id=run_id)  # type: ignore[attr-defined]
    run_batch.enqueue(run.pk)
    return Status(202, _fresh(run))

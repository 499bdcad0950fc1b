"""Batch pages: the runs in scope, a new promotion or graduation (its dry run), the
report with the confirm button, and the progress of the real run (polled by htmx).

Each view parses its input, calls one service of ``xueji.enrolment.batches``, and renders;
the real run is a background task (``tasks.run_batch``).
"""

from datetime import date
from typing import cast

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from xueji import clock
from xueji.accounts.models import User
from xueji.accounts.permissions import require_permission
from xueji.accounts.rules import Permission
from xueji.errors import Conflict, ValidationFailed
from xueji.schools.rules import GRADES, Stage
from xueji.web.forms import StyledForm
from xueji.web.views import page

from . import batches
from .models import BatchKind, BatchRun, BatchState
from .rules import StatusState
from .tasks import run_batch

RUNS_SHOWN = 100
SCHOOLS_SHOWN = 200


def _grade_name(code: str) -> str:
    grade = GRADES.get(code)
    return str(grade.name) if grade else code


def _state_name(code: str) -> str:
    try:
        return str(StatusState(code).label)
    except ValueError:
        return code


def _own_code(user: User) -> str:
    """The scope a new batch starts from: the account's school, or its division."""
    unit = user.unit
    if unit is None:
        return ""
    if unit.school is not None:
        return unit.school.code
    return unit.division_code


class PromotionForm(StyledForm):
    scope = forms.CharField(
        label=gettext_lazy("范围"),
        max_length=10,
        required=False,
        help_text=gettext_lazy(
            "行政区划代码（省、市、县，如 440106）或10位学校标识码；留空表示全国（仅国家级）。"
        ),
    )
    school_year = forms.IntegerField(
        label=gettext_lazy("升入学年"),
        min_value=2000,
        max_value=2100,
        help_text=gettext_lazy("学生升入新年级的学年（以当年秋季开学计）。"),
    )
    cutoff = forms.DateField(
        label=gettext_lazy("截止日期"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=gettext_lazy("升级的生效日期，写入每名学生的学籍历史。"),
    )

    def __init__(self, *args, fixed_scope: str | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if fixed_scope is not None:
            self.fields["scope"].disabled = True
            self.fields["scope"].initial = fixed_scope
            self.fields["scope"].help_text = gettext_lazy("学校账号只能对本校执行。")


class GraduationForm(StyledForm):
    school = forms.CharField(label=gettext_lazy("学校标识码"), max_length=10)
    stage = forms.ChoiceField(
        label=gettext_lazy("毕业学段"),
        required=False,
        choices=[("", gettext_lazy("学校只有一个学段时自动选择")), *Stage.choices],
    )
    cutoff = forms.DateField(
        label=gettext_lazy("截止日期"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=gettext_lazy("毕业（结业、肄业）的生效日期。"),
    )
    completed = forms.CharField(
        label=gettext_lazy("结业学生学籍号"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy("每行一个或用逗号分隔；未列出的毕业年级在籍学生均按毕业处理。"),
    )
    left = forms.CharField(
        label=gettext_lazy("肄业学生学籍号"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    marked_required = frozenset({"school", "cutoff"})

    def __init__(self, *args, fixed_school: str | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if fixed_school is not None:
            self.fields["school"].disabled = True
            self.fields["school"].initial = fixed_school


def _refused(form: StyledForm, error: ValidationFailed | Conflict) -> None:
    if isinstance(error, ValidationFailed):
        form.add_field_errors(error.errors)
        if not error.errors:
            form.add_error(None, str(error.message))
    else:
        form.add_error(None, str(error.message))


@page
def run_list(request: HttpRequest) -> HttpResponse:
    runs = list(
        batches.batch_runs_visible(request.user).select_related("school", "created_by")[:RUNS_SHOWN]
    )
    return render(request, "enrolment/batch_list.html", {"runs": runs})


@page
def promotion_new(request: HttpRequest) -> HttpResponse:
    user = cast(User, request.user)
    require_permission(user, Permission.STATUS_BATCH)
    fixed = _own_code(user) if user.unit and user.unit.school_id else None
    year = clock.today().year
    form = PromotionForm(
        request.POST or None,
        fixed_scope=fixed,
        initial={
            "scope": _own_code(user),
            "school_year": year,
            "cutoff": date(year, 8, 31),
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            run = batches.batch_promotion_plan(
                actor=user,
                scope=form.cleaned_data["scope"] or "",
                school_year=form.cleaned_data["school_year"],
                cutoff=form.cleaned_data["cutoff"],
            )
        except (ValidationFailed, Conflict) as error:
            _refused(form, error)
        else:
            return redirect("batches:detail", run_id=run.pk)
    return render(request, "enrolment/batch_new.html", {"form": form, "promote": True})


@page
def graduation_new(request: HttpRequest) -> HttpResponse:
    user = cast(User, request.user)
    require_permission(user, Permission.STATUS_BATCH)
    fixed = _own_code(user) if user.unit and user.unit.school_id else None
    form = GraduationForm(
        request.POST or None,
        fixed_school=fixed,
        initial={"school": fixed or "", "cutoff": date(clock.today().year, 7, 1)},
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            run = batches.batch_graduation_plan(
                actor=user,
                school=data["school"],
                cutoff=data["cutoff"],
                stage=data["stage"],
                completed=data["completed"],
                left=data["left"],
            )
        except (ValidationFailed, Conflict) as error:
            _refused(form, error)
        else:
            return redirect("batches:detail", run_id=run.pk)
    return render(request, "enrolment/batch_new.html", {"form": form, "promote": False})


def _promotion_display(report: dict) -> dict:
    """The dry-run report with grade and state names, for the template."""
    schools = []
    for school in report.get("schools", [])[:SCHOOLS_SHOWN]:
        schools.append(
            {
                **school,
                "promote_text": "；".join(
                    f"{_grade_name(p['grade'])}→{_grade_name(p['to'])} {p['count']}"
                    for p in school["promote"]
                ),
                "graduating_text": "；".join(
                    f"{_grade_name(g['grade'])} {g['count']}" for g in school["graduating"]
                ),
                "skipped_text": "；".join(
                    f"{_state_name(s['state'])} {s['count']}" for s in school["skipped"]
                ),
            }
        )
    return {
        "totals": report.get("totals", {}),
        "by_grade": [
            {**row, "name": _grade_name(row["grade"]), "to_name": _grade_name(row["to"])}
            for row in report.get("by_grade", [])
        ],
        "graduating": [
            {**row, "name": _grade_name(row["grade"])}
            for row in report.get("graduating_by_grade", [])
        ],
        "skipped": [
            {**row, "name": _state_name(row["state"])} for row in report.get("skipped_by_state", [])
        ],
        "schools": schools,
        "schools_total": report.get("schools_total", 0),
        "schools_truncated": report.get("schools_total", 0) > len(schools),
        "conflicts": [
            {**row, "grade_name": _grade_name(row["grade"])} for row in report.get("conflicts", [])
        ],
        "four_year_junior_schools": report.get("four_year_junior_schools", 0),
    }


def _graduation_display(report: dict) -> dict:
    return {
        "totals": report.get("totals", {}),
        "grade_name": _grade_name(report.get("grade", "")),
        "stage_name": str(Stage(report["stage"]).label) if report.get("stage") else "",
        "skipped": [
            {**row, "name": _state_name(row["state"])} for row in report.get("skipped_by_state", [])
        ],
        "other_grades": [
            {**row, "name": _grade_name(row["grade"])} for row in report.get("other_grades", [])
        ],
    }


def _results(run: BatchRun) -> list[dict]:
    """What the real run changed so far, by new grade or by outcome."""
    by_key = run.counts.get("by_key", {})
    if run.kind == BatchKind.PROMOTE:
        return [
            {"name": _("升入%s") % _grade_name(key), "count": n}
            for key, n in sorted(by_key.items())
        ]
    return [{"name": _state_name(key), "count": n} for key, n in sorted(by_key.items())]


def _run_context(run: BatchRun) -> dict:
    report = run.report or {}
    return {
        "run": run,
        "promote": run.kind == BatchKind.PROMOTE,
        "planned": run.state == BatchState.PLANNED,
        "running": run.state == BatchState.RUNNING,
        "failed": run.state == BatchState.FAILED,
        "done": run.state == BatchState.DONE,
        "waiting": run.state == BatchState.RUNNING and run.started_at is None,
        "results": _results(run),
        "report": (
            _promotion_display(report)
            if run.kind == BatchKind.PROMOTE
            else _graduation_display(report)
        ),
    }


@page
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    run = batches.access_batch_run(request.user, run_id=run_id)
    return render(request, "enrolment/batch_detail.html", _run_context(run))


@page
def run_progress(request: HttpRequest, run_id: int) -> HttpResponse:
    """The run's progress, polled every second by htmx while it runs."""
    run = batches.access_batch_run(request.user, run_id=run_id)
    return render(request, "enrolment/_batch_progress.html", _run_context(run))


@page
@require_POST
def run_confirm(request: HttpRequest, run_id: int) -> HttpResponse:
    run = batches.batch_run_confirm(actor=request.user, run_id=run_id)
    run_batch.enqueue(run.pk)
    return redirect("batches:detail", run_id=run.pk)


@page
@require_POST
def run_resume(request: HttpRequest, run_id: int) -> HttpResponse:
    run = batches.batch_run_resume(actor=request.user, run_id=run_id)
    run_batch.enqueue(run.pk)
    return redirect("batches:detail", run_id=run.pk)

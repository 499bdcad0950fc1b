"""Findings of the anomaly detectors, the "different people" verdicts on pairs, the
reversible merges of duplicate records, and the imported attendance sightings.

Only ``xueji.anomalies.services`` writes these rows.
"""

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from .rules import FindingKind, FindingState, MergeState, Resolution, Verdict


class Finding(models.Model):
    """One anomaly a detector saw, routed to the unit that must act.

    A pair (a duplicate) is stored ordered: ``student`` has the smaller id. At most one
    open finding exists per kind and subject (the partial unique constraints); a finding
    is resolved by a person (merge, "different people", dismissal) or by the detector
    itself when its next run no longer sees it. ``evidence`` holds, per source
    (``rules.Source``), what that source saw.
    """

    kind = models.CharField(_("异常类别"), max_length=24, choices=FindingKind.choices)
    student = models.ForeignKey(
        "students.Student", on_delete=models.PROTECT, related_name="+", verbose_name=_("学生")
    )
    other_student = models.ForeignKey(
        "students.Student",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("另一学籍"),
    )
    evidence = models.JSONField(_("依据"), default=dict, blank=True)
    # The unit that must act; a pair's is the lowest unit covering both records.
    unit = models.ForeignKey(
        "accounts.Unit", on_delete=models.PROTECT, related_name="+", verbose_name=_("处理单位")
    )
    # The semester in which the finding was first seen (xueji.changes.rules.semester_of).
    school_year = models.PositiveSmallIntegerField(_("学年"))
    semester = models.PositiveSmallIntegerField(_("学期"))
    state = models.CharField(
        _("状态"), max_length=16, choices=FindingState.choices, default=FindingState.OPEN
    )
    detected_at = models.DateTimeField(_("发现时间"))
    last_seen_at = models.DateTimeField(_("最近一次发现"))
    resolved_at = models.DateTimeField(_("处理时间"), null=True, blank=True)
    resolved_by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolved_by_username = models.CharField(_("处理人"), max_length=150, blank=True, default="")
    resolution = models.CharField(
        _("处理方式"), max_length=24, choices=Resolution.choices, blank=True, default=""
    )
    resolution_note = models.CharField(_("处理说明"), max_length=500, blank=True, default="")

    class Meta:
        verbose_name = _("学籍异常")
        verbose_name_plural = _("学籍异常")
        ordering = ["-detected_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "student"],
                condition=Q(state="open", other_student__isnull=True),
                name="finding_one_open_single",
            ),
            models.UniqueConstraint(
                fields=["kind", "student", "other_student"],
                condition=Q(state="open", other_student__isnull=False),
                name="finding_one_open_pair",
            ),
            models.CheckConstraint(
                condition=Q(other_student__isnull=True) | Q(student__lt=F("other_student")),
                name="finding_pair_ordered",
            ),
        ]
        indexes = [
            models.Index(fields=["unit", "state", "kind"], name="finding_unit_state"),
            models.Index(fields=["kind", "state"], name="finding_kind_state"),
            models.Index(fields=["school_year", "semester", "kind"], name="finding_semester"),
            models.Index(fields=["other_student"], name="finding_other_student"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.state == FindingState.OPEN

    @property
    def is_pair(self) -> bool:
        return self.other_student_id is not None


class PairVerdict(models.Model):
    """A person's verdict that two records are different people: the pair is never shown
    again as a duplicate."""

    student_a = models.ForeignKey("students.Student", on_delete=models.PROTECT, related_name="+")
    student_b = models.ForeignKey("students.Student", on_delete=models.PROTECT, related_name="+")
    verdict = models.CharField(
        _("结论"), max_length=24, choices=Verdict.choices, default=Verdict.DIFFERENT_PEOPLE
    )
    finding = models.ForeignKey(
        Finding, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    by_username = models.CharField(_("确认人"), max_length=150, blank=True, default="")
    at = models.DateTimeField(_("确认时间"))
    reason = models.CharField(_("理由"), max_length=500)

    class Meta:
        verbose_name = _("非同一人确认")
        verbose_name_plural = _("非同一人确认")
        constraints = [
            models.UniqueConstraint(fields=["student_a", "student_b"], name="verdict_one_per_pair"),
            models.CheckConstraint(
                condition=Q(student_a__lt=F("student_b")), name="verdict_pair_ordered"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.student_a_id}≠{self.student_b_id}"


class MergeRecord(models.Model):
    """One merge of two records of one person: ``retired`` was cancelled into ``survivor``.

    ``snapshot`` holds every row the merge changed, before and after, and every row it
    created, so ``merge_undo`` restores both records exactly (and refuses when a row has
    changed since). The retired number keeps pointing to the survivor through this row
    and through its ``StudentNumber``, now the survivor's.
    """

    finding = models.ForeignKey(Finding, on_delete=models.PROTECT, related_name="merges")
    survivor = models.ForeignKey(
        "students.Student", on_delete=models.PROTECT, related_name="+", verbose_name=_("保留学籍")
    )
    retired = models.ForeignKey(
        "students.Student", on_delete=models.PROTECT, related_name="+", verbose_name=_("注销学籍")
    )
    # Both numbers masked (identity.mask_student_number): the merge page and the audit trail
    # show them to reviewers; the students are reached through the foreign keys.
    survivor_number = models.CharField(_("保留学籍号"), max_length=19)
    retired_number = models.CharField(_("停用学籍号"), max_length=19, db_index=True)
    state = models.CharField(
        _("状态"), max_length=16, choices=MergeState.choices, default=MergeState.MERGED
    )
    reason = models.CharField(_("说明"), max_length=500, blank=True, default="")
    # {"updated": [{"model", "pk", "before", "after"}], "created": [{"model", "pk", "row"}]}
    snapshot = models.JSONField(_("变更快照"), default=dict)
    merged_at = models.DateTimeField(_("合并时间"))
    merged_by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    merged_by_username = models.CharField(_("合并人"), max_length=150, blank=True, default="")
    undone_at = models.DateTimeField(_("撤销时间"), null=True, blank=True)
    undone_by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    undone_by_username = models.CharField(_("撤销人"), max_length=150, blank=True, default="")
    undo_reason = models.CharField(_("撤销理由"), max_length=500, blank=True, default="")

    class Meta:
        verbose_name = _("学籍合并")
        verbose_name_plural = _("学籍合并")
        ordering = ["-merged_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["retired"], condition=Q(state="merged"), name="merge_one_active_retired"
            )
        ]

    def __str__(self) -> str:
        return f"{self.retired_number} → {self.survivor_number}"


class AttendanceSighting(models.Model):
    """One line of an imported attendance list: the student was seen attending ``school``
    on ``seen_on``. Read by the person–record separation detector."""

    student = models.ForeignKey("students.Student", on_delete=models.PROTECT, related_name="+")
    school = models.ForeignKey("schools.School", on_delete=models.PROTECT, related_name="+")
    seen_on = models.DateField(_("在校日期"))
    source = models.CharField(_("来源"), max_length=128, blank=True, default="")
    batch = models.CharField(_("导入批次"), max_length=32, blank=True, default="")
    imported_at = models.DateTimeField(_("导入时间"))
    imported_by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    imported_by_username = models.CharField(_("导入人"), max_length=150, blank=True, default="")

    class Meta:
        verbose_name = _("在校名单记录")
        verbose_name_plural = _("在校名单记录")
        ordering = ["-seen_on", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["student", "school", "seen_on"], name="sighting_once_per_day"
            )
        ]
        indexes = [models.Index(fields=["seen_on", "student"], name="sighting_recent")]

    def __str__(self) -> str:
        return f"{self.student_id}@{self.school_id} {self.seen_on}"

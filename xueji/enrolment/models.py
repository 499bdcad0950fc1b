"""The status record (学籍): one per person for life, and its history."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from .rules import EventKind, StatusState


class Programme(models.TextChoices):
    GENERAL = "general", _("普通教育")
    VOCATIONAL = "vocational", _("职业教育")
    INTEGRATED = "integrated", _("职普融通")


class StatusRecord(models.Model):
    """The one status record of a student. ``student`` is one-to-one: the database itself
    refuses a second record for a person, and ``Student.id_key`` refuses a second person
    for one ID."""

    student = models.OneToOneField(
        "students.Student", on_delete=models.PROTECT, related_name="record", primary_key=True
    )
    school = models.ForeignKey("schools.School", on_delete=models.PROTECT, related_name="records")
    # Copied from the school: the scope filter and the future partition key.
    area_code = models.CharField(_("辖区代码"), max_length=6)
    province_code = models.CharField(_("省份代码"), max_length=2)
    stage = models.CharField(_("学段"), max_length=1)
    grade = models.CharField(_("年级"), max_length=2)
    class_name = models.CharField(_("班级"), max_length=32, blank=True, default="")
    state = models.CharField(
        _("学籍状态"), max_length=16, choices=StatusState.choices, default=StatusState.ENROLLED
    )
    entry_date = models.DateField(_("入学年月"))
    entry_mode = models.CharField(_("入学方式"), max_length=1, blank=True, default="")
    attendance = models.CharField(_("就读方式"), max_length=1, blank=True, default="1")
    programme = models.CharField(
        _("培养类型"), max_length=16, choices=Programme.choices, default=Programme.GENERAL
    )
    # Art. 11: a student placed in a specialised school while the record stays here.
    placement_school = models.ForeignKey(
        "schools.School",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="placed_records",
        verbose_name=_("专门学校安置"),
    )
    # 送教上门: taught at home by this school (Art. 11).
    home_taught = models.BooleanField(_("送教上门"), default=False)
    # Bumped by every service that changes the record: optimistic checks in batches.
    revision = models.PositiveIntegerField(_("版本"), default=0)
    registered_at = models.DateTimeField(_("注册时间"))
    updated_at = models.DateTimeField(_("更新时间"))

    class Meta:
        verbose_name = _("学籍")
        verbose_name_plural = _("学籍")
        indexes = [
            models.Index(fields=["area_code", "student"], name="record_area"),
            models.Index(fields=["school", "grade", "class_name"], name="record_school_class"),
            models.Index(fields=["state"], name="record_state"),
        ]

    def __str__(self) -> str:
        return f"{self.student_id} @ {self.school_id}"


class StatusEvent(models.Model):
    """One entry of a record's history, never overwritten.

    Each event carries the in-school facts as they stood after it, so the record "as of"
    a date is the last event effective on or before that date.
    """

    record = models.ForeignKey(StatusRecord, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(_("事件"), max_length=16, choices=EventKind.choices)
    occurred_at = models.DateTimeField(_("登记时间"))
    effective_date = models.DateField(_("生效日期"))
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_username = models.CharField(_("操作人"), max_length=150, blank=True, default="")
    from_state = models.CharField(_("原状态"), max_length=16, blank=True, default="")
    to_state = models.CharField(_("新状态"), max_length=16)
    school = models.ForeignKey("schools.School", on_delete=models.PROTECT, related_name="+")
    stage = models.CharField(_("学段"), max_length=1)
    grade = models.CharField(_("年级"), max_length=2)
    class_name = models.CharField(_("班级"), max_length=32, blank=True, default="")
    reason = models.CharField(_("事由"), max_length=255, blank=True, default="")
    batch = models.CharField(_("批次"), max_length=64, blank=True, default="")
    # The change request (changes.ChangeRequest) this event completes, if any; a plain id so
    # history never depends on the request table.
    change_type = models.CharField(_("变动类型"), max_length=24, blank=True, default="")
    request_id = models.BigIntegerField(_("变动申请"), null=True, blank=True)
    # Materials on file ([{"kind", "name", "sha256"}]) and type-specific facts
    # (time abroad, deferral end, follow-up of a dropout).
    materials = models.JSONField(_("材料"), default=list, blank=True)
    detail = models.JSONField(_("详情"), default=dict, blank=True)

    class Meta:
        verbose_name = _("学籍事件")
        verbose_name_plural = _("学籍事件")
        ordering = ["effective_date", "occurred_at", "pk"]
        indexes = [models.Index(fields=["record", "effective_date"], name="event_record_date")]


class BatchKind(models.TextChoices):
    PROMOTE = "promote", _("升级")
    GRADUATE = "graduate", _("毕业（结业、肄业）")


class BatchState(models.TextChoices):
    PLANNED = "planned", _("已试运行，待确认")
    RUNNING = "running", _("执行中")
    DONE = "done", _("已完成")
    FAILED = "failed", _("中断，可继续")


class BatchRun(models.Model):
    """One promotion or graduation batch (xueji/enrolment/batches.py): its dry-run report,
    then the progress of the real run, chunk by chunk, so an interrupted run continues
    where it stopped. Every history event it writes carries ``batch_key`` in ``batch``."""

    kind = models.CharField(_("类别"), max_length=16, choices=BatchKind.choices)
    state = models.CharField(
        _("状态"), max_length=16, choices=BatchState.choices, default=BatchState.PLANNED
    )
    # The scope: an area-code prefix ('' = the nation), or one school (its area code here).
    scope_area = models.CharField(_("范围代码前缀"), max_length=6, blank=True, default="")
    school = models.ForeignKey(
        "schools.School", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    scope_label = models.CharField(_("范围"), max_length=128, blank=True, default="")
    # The school year the students move into (autumn of this year); the cut-off date is
    # the effective date of every event the batch writes.
    school_year = models.PositiveSmallIntegerField(_("学年"))
    cutoff = models.DateField(_("截止日期"))
    # What the run was asked for (graduation: stage, completed and leaving students).
    options = models.JSONField(_("参数"), default=dict, blank=True)
    report = models.JSONField(_("试运行报告"), default=dict, blank=True)
    # Lower bounds ([area_code, student_id]) of the chunks, fixed when the real run starts.
    chunk_bounds = models.JSONField(_("分段"), default=list, blank=True)
    chunks_total = models.PositiveIntegerField(_("分段数"), default=0)
    chunks_done = models.PositiveIntegerField(_("已完成分段"), default=0)
    planned_count = models.PositiveIntegerField(_("试运行：将处理"), default=0)
    changed_count = models.PositiveIntegerField(_("已处理"), default=0)
    counts = models.JSONField(_("分类计数"), default=dict, blank=True)
    message = models.TextField(_("说明"), blank=True, default="")
    created_by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    confirmed_by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("试运行时间"))
    confirmed_at = models.DateTimeField(_("确认时间"), null=True, blank=True)
    started_at = models.DateTimeField(_("开始时间"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("最近进展"), null=True, blank=True)
    finished_at = models.DateTimeField(_("完成时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("批量处理")
        verbose_name_plural = _("批量处理")
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["kind", "school_year", "state"], name="batch_kind_year"),
            models.Index(fields=["scope_area"], name="batch_scope_area"),
        ]

    def __str__(self) -> str:
        return self.batch_key

    @property
    def batch_key(self) -> str:
        """What the batch's history events carry in ``StatusEvent.batch``."""
        return f"{self.kind}-{self.pk}"

    @property
    def percent(self) -> int:
        if self.state == BatchState.DONE:
            return 100
        if not self.chunks_total:
            return 0
        return min(100, int(self.chunks_done * 100 / self.chunks_total))

    @property
    def finished(self) -> bool:
        return self.state == BatchState.DONE

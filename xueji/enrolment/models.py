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

    class Meta:
        verbose_name = _("学籍事件")
        verbose_name_plural = _("学籍事件")
        ordering = ["effective_date", "occurred_at", "pk"]
        indexes = [models.Index(fields=["record", "effective_date"], name="event_record_date")]

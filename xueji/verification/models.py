"""Semester confirmation campaigns (核准, Art. 25): a campaign, each school's confirmation
with its counts, and one mark per student on a school's roll.

Only xueji.verification.services writes these rows. Marks are created per school when the
school opens its roll (one INSERT…SELECT), never for the whole scope at once, so opening a
national campaign writes one row per school, not one per student.
"""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .rules import CampaignState, ConfirmationState, Mark, Semester


class Campaign(models.Model):
    """One confirmation campaign for a semester: national (``province_code`` '') or one
    province's. At most one open campaign per scope and semester (and the service refuses
    a national and a provincial one open for the same semester)."""

    province_code = models.CharField(_("范围（省份代码）"), max_length=2, blank=True, default="")
    school_year = models.PositiveSmallIntegerField(_("学年"))
    semester = models.PositiveSmallIntegerField(_("学期"), choices=Semester.choices)
    title = models.CharField(_("名称"), max_length=128)
    deadline = models.DateField(_("截止日期"))
    state = models.CharField(
        _("状态"), max_length=8, choices=CampaignState.choices, default=CampaignState.OPEN
    )
    # How many schools the opening found in scope (each has a SchoolConfirmation).
    schools_total = models.PositiveIntegerField(_("学校数"), default=0)
    opened_at = models.DateTimeField(_("发起时间"))
    opened_by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    opened_by_username = models.CharField(_("发起人"), max_length=150, blank=True, default="")
    closed_at = models.DateTimeField(_("结束时间"), null=True, blank=True)
    closed_by_username = models.CharField(_("结束人"), max_length=150, blank=True, default="")

    class Meta:
        verbose_name = _("核准活动")
        verbose_name_plural = _("核准活动")
        ordering = ["-school_year", "-semester", "province_code", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["province_code", "school_year", "semester"],
                condition=Q(state="open"),
                name="campaign_one_open_per_scope",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.state == CampaignState.OPEN


class SchoolConfirmation(models.Model):
    """A school's part in a campaign: its state and the counts of its roll, kept up to
    date in the transaction of every marking (the progress pages read only these rows)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="confirmations")
    school = models.ForeignKey("schools.School", on_delete=models.PROTECT, related_name="+")
    # Copied from the school: the roll-up groups by prefixes of the area code.
    area_code = models.CharField(_("辖区代码"), max_length=6)
    province_code = models.CharField(_("省份代码"), max_length=2)
    state = models.CharField(
        _("状态"),
        max_length=16,
        choices=ConfirmationState.choices,
        default=ConfirmationState.NOT_STARTED,
    )
    # Before the roll is opened ``total`` is the number on the roll when the campaign
    # opened; from then on every count is recounted from the marks.
    total = models.PositiveIntegerField(_("学生数"), default=0)
    present = models.PositiveIntegerField(_("在校"), default=0)
    absent = models.PositiveIntegerField(_("缺"), default=0)
    data_wrong = models.PositiveIntegerField(_("信息有误"), default=0)
    unmarked = models.PositiveIntegerField(_("未标记"), default=0)
    roll_opened_at = models.DateTimeField(_("开始核准时间"), null=True, blank=True)
    signed_off_at = models.DateTimeField(_("签报时间"), null=True, blank=True)
    signed_off_by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    signed_off_by_username = models.CharField(_("签报人"), max_length=150, blank=True, default="")
    note = models.TextField(_("签报说明"), blank=True, default="")

    class Meta:
        verbose_name = _("学校核准")
        verbose_name_plural = _("学校核准")
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "school"], name="confirmation_one_per_school"
            ),
        ]
        indexes = [
            models.Index(fields=["campaign", "area_code"], name="confirmation_campaign_area"),
            models.Index(fields=["school", "campaign"], name="confirmation_school"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id} @ {self.school_id}"

    @property
    def marked(self) -> int:
        return self.total - self.unmarked

    @property
    def signed_off(self) -> bool:
        return self.state == ConfirmationState.SIGNED_OFF


class RollMark(models.Model):
    """What a school said about one student in a campaign. Marks of absent students are
    the evidence the empty-record and person–record-separation detectors read
    (``selectors.marks_for_detectors``): kept, never deleted once set."""

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="marks")
    school = models.ForeignKey("schools.School", on_delete=models.PROTECT, related_name="+")
    student = models.ForeignKey("students.Student", on_delete=models.PROTECT, related_name="+")
    area_code = models.CharField(_("辖区代码"), max_length=6)
    province_code = models.CharField(_("省份代码"), max_length=2)
    mark = models.CharField(_("标记"), max_length=16, choices=Mark.choices, default=Mark.UNMARKED)
    note = models.CharField(_("说明"), max_length=255, blank=True, default="")
    marked_at = models.DateTimeField(_("标记时间"), null=True, blank=True)
    marked_by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    marked_by_username = models.CharField(_("标记人"), max_length=150, blank=True, default="")

    class Meta:
        verbose_name = _("核准标记")
        verbose_name_plural = _("核准标记")
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "student"], name="rollmark_one_per_student"
            ),
        ]
        indexes = [
            models.Index(fields=["campaign", "school", "mark"], name="rollmark_school_mark"),
            models.Index(fields=["campaign", "mark", "area_code"], name="rollmark_mark_area"),
            models.Index(fields=["student", "campaign"], name="rollmark_student"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}/{self.student_id}: {self.mark}"

"""Change requests, their approval steps and materials, and the versioned province rule sets."""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .rules import ChangeType, Channel, MaterialKind, Party, RefusalReason, RequestState, StepState


class RuleSet(models.Model):
    """One version of the national defaults (``province_code`` '') or of a province's
    overrides. Versions are only ever added; the newest whose ``effective_from`` has passed is
    in force, and every request keeps the merged rule it was filed under."""

    province_code = models.CharField(_("省份代码"), max_length=2, blank=True, default="")
    version = models.PositiveIntegerField(_("版本"))
    effective_from = models.DateTimeField(_("生效时间"))
    # {change_type: {key: value}}: only what this layer changes.
    rules = models.JSONField(_("规则"), default=dict)
    note = models.CharField(_("说明"), max_length=255, blank=True, default="")
    created_at = models.DateTimeField(_("创建时间"))
    created_by_id = models.BigIntegerField(null=True, blank=True)
    created_by_username = models.CharField(_("创建人"), max_length=150, blank=True, default="")

    class Meta:
        verbose_name = _("变动规则集")
        verbose_name_plural = _("变动规则集")
        ordering = ["province_code", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["province_code", "version"], name="ruleset_version")
        ]

    def __str__(self) -> str:
        return f"{self.province_code or 'national'} v{self.version}"


class ChangeRequest(models.Model):
    """One application for a change of one student's record, with its approval chain.

    ``school`` holds the record when the request is filed (the sending school of a
    transfer); ``target_school`` is the receiving school (transfer) or the placement school.
    Both sides' area codes are kept so either side's scope finds the request.
    """

    student = models.ForeignKey(
        "students.Student", on_delete=models.PROTECT, related_name="change_requests"
    )
    change_type = models.CharField(_("变动类型"), max_length=24, choices=ChangeType.choices)
    state = models.CharField(
        _("办理状态"), max_length=16, choices=RequestState.choices, default=RequestState.OPEN
    )
    channel = models.CharField(
        _("申请渠道"), max_length=16, choices=Channel.choices, default=Channel.SCHOOL
    )
    school = models.ForeignKey("schools.School", on_delete=models.PROTECT, related_name="+")
    area_code = models.CharField(_("辖区代码"), max_length=6)
    province_code = models.CharField(_("省份代码"), max_length=2)
    target_school = models.ForeignKey(
        "schools.School", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    target_area_code = models.CharField(_("转入辖区代码"), max_length=6, blank=True, default="")
    target_province_code = models.CharField(_("转入省份代码"), max_length=2, blank=True, default="")
    effective_date = models.DateField(_("生效日期"))
    reason = models.CharField(_("事由"), max_length=500)
    # Type-specific facts: the grade on return, the deferral end, the new programme, …
    payload = models.JSONField(_("变动内容"), default=dict, blank=True)
    # The student's grade at filing: a grade chosen for completion moves on with a yearly
    # promotion that happens while the request is open.
    filed_grade = models.CharField(_("申请时年级"), max_length=2, blank=True, default="")
    # The merged rule in force at filing, and the rule-set versions it came from.
    rule = models.JSONField(_("适用规则"), default=dict)
    national_ruleset = models.ForeignKey(
        RuleSet, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    province_ruleset = models.ForeignKey(
        RuleSet, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    filed_at = models.DateTimeField(_("申请时间"))
    filed_by_id = models.BigIntegerField(null=True, blank=True)
    filed_by_username = models.CharField(_("申请人"), max_length=150, blank=True, default="")
    filed_by_unit_id = models.BigIntegerField(null=True, blank=True)
    # A guardian applying online: whom to tell (masked in every list).
    applicant_name = models.CharField(_("申请人姓名"), max_length=64, blank=True, default="")
    closed_at = models.DateTimeField(_("办结时间"), null=True, blank=True)
    closed_reason = models.CharField(_("办结说明"), max_length=500, blank=True, default="")

    class Meta:
        verbose_name = _("学籍变动申请")
        verbose_name_plural = _("学籍变动申请")
        ordering = ["-filed_at", "-pk"]
        constraints = [
            # 一人一事: at most one open request per student, enforced by the database so two
            # racing filings can never both succeed.
            models.UniqueConstraint(
                fields=["student"], condition=Q(state="open"), name="change_one_open_per_student"
            )
        ]
        indexes = [
            models.Index(fields=["area_code", "state"], name="change_area_state"),
            models.Index(fields=["target_area_code", "state"], name="change_target_state"),
            models.Index(fields=["change_type", "state"], name="change_type_state"),
        ]

    def __str__(self) -> str:
        return f"{self.get_change_type_display()} #{self.pk}"


class ApprovalStep(models.Model):
    """One party's step. Exactly one step of an open request is pending; its due date is the
    n-th working day after it became pending, or missing when that year's calendar is not
    loaded (``calendar_missing``: flagged and escalated, never guessed)."""

    request = models.ForeignKey(ChangeRequest, on_delete=models.CASCADE, related_name="steps")
    seq = models.PositiveSmallIntegerField(_("顺序"))
    party = models.CharField(_("办理方"), max_length=24, choices=Party.choices)
    unit = models.ForeignKey("accounts.Unit", on_delete=models.PROTECT, related_name="+")
    state = models.CharField(
        _("状态"), max_length=16, choices=StepState.choices, default=StepState.WAITING
    )
    days = models.PositiveSmallIntegerField(_("时限（工作日）"))
    activated_on = models.DateField(_("开始日期"), null=True, blank=True)
    due_date = models.DateField(_("办理期限"), null=True, blank=True)
    calendar_missing = models.BooleanField(_("缺少工作日历"), default=False)
    acted_at = models.DateTimeField(_("办理时间"), null=True, blank=True)
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_username = models.CharField(_("办理人"), max_length=150, blank=True, default="")
    refusal_reason = models.CharField(
        _("不同意理由"), max_length=32, choices=RefusalReason.choices, blank=True, default=""
    )
    comment = models.CharField(_("办理意见"), max_length=500, blank=True, default="")

    class Meta:
        verbose_name = _("核办环节")
        verbose_name_plural = _("核办环节")
        ordering = ["request", "seq"]
        constraints = [models.UniqueConstraint(fields=["request", "seq"], name="step_seq")]
        indexes = [models.Index(fields=["unit", "state", "due_date"], name="step_queue")]

    def __str__(self) -> str:
        return f"{self.request_id}/{self.seq} {self.party}"


class Material(models.Model):
    """A supporting document filed with a request. Files are never replaced: a new upload is
    a new row."""

    request = models.ForeignKey(ChangeRequest, on_delete=models.CASCADE, related_name="materials")
    kind = models.CharField(_("材料类别"), max_length=32, choices=MaterialKind.choices)
    file = models.FileField(_("文件"), upload_to="materials/%Y/%m/")
    name = models.CharField(_("文件名"), max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField(_("大小"))
    sha256 = models.CharField(max_length=64)
    uploaded_at = models.DateTimeField(_("上传时间"))
    uploaded_by = models.CharField(_("上传人"), max_length=150, blank=True, default="")

    class Meta:
        verbose_name = _("变动材料")
        verbose_name_plural = _("变动材料")
        ordering = ["request", "uploaded_at", "pk"]

    def __str__(self) -> str:
        return self.name


# ----------------------------------------------------------------- the dropout-control ledger


class DropoutCaseState(models.TextChoices):
    OPEN = "open", _("跟踪中")
    RETURNED = "returned", _("已复学")
    CLOSED_OTHER = "closed_other", _("已销号（其他原因）")


class FollowUpMethod(models.TextChoices):
    HOME_VISIT = "home_visit", _("家访")
    PHONE = "phone", _("电话")
    MEETING = "meeting", _("约谈")
    LETTER = "letter", _("书面通知")
    OTHER = "other", _("其他")


class DropoutCase(models.Model):
    """A case of the dropout-control ledger (控辍保学台账): a student of compulsory education
    whose dropout was recorded, followed up until the student returns (closed automatically
    when a resumption completes) or the authority closes it with a reason."""

    student = models.ForeignKey(
        "students.Student", on_delete=models.PROTECT, related_name="dropout_cases"
    )
    school = models.ForeignKey("schools.School", on_delete=models.PROTECT, related_name="+")
    # Copied from the school: the scope filter.
    area_code = models.CharField(_("辖区代码"), max_length=6)
    stage = models.CharField(_("学段"), max_length=1)
    grade = models.CharField(_("年级"), max_length=2)
    opened_on = models.DateField(_("立案日期"))
    # The dropout request (ChangeRequest) whose completion opened the case.
    request_id = models.BigIntegerField(_("辍学申请"), null=True, blank=True)
    state = models.CharField(
        _("状态"), max_length=16, choices=DropoutCaseState.choices, default=DropoutCaseState.OPEN
    )
    closed_on = models.DateField(_("销号日期"), null=True, blank=True)
    closed_reason = models.CharField(_("销号说明"), max_length=500, blank=True, default="")
    closed_by_username = models.CharField(_("销号人"), max_length=150, blank=True, default="")
    # The resumption (ChangeRequest) that brought the student back, if any.
    closed_request_id = models.BigIntegerField(_("复学申请"), null=True, blank=True)
    created_at = models.DateTimeField(_("创建时间"))

    class Meta:
        verbose_name = _("控辍保学台账")
        verbose_name_plural = _("控辍保学台账")
        ordering = ["-opened_on", "-pk"]
        constraints = [
            # One open case per student: a second dropout reopens nothing twice.
            models.UniqueConstraint(
                fields=["student"], condition=Q(state="open"), name="dropout_one_open_per_student"
            )
        ]
        indexes = [models.Index(fields=["area_code", "state"], name="dropout_area_state")]

    def __str__(self) -> str:
        return f"{self.student_id} {self.opened_on}"


class DropoutFollowUp(models.Model):
    """One follow-up of a case: who did what on which day, what came of it, what is next.
    Follow-ups are only ever added."""

    case = models.ForeignKey(DropoutCase, on_delete=models.PROTECT, related_name="follow_ups")
    on = models.DateField(_("跟进日期"))
    by_id = models.BigIntegerField(null=True, blank=True)
    by_username = models.CharField(_("跟进人"), max_length=150, blank=True, default="")
    by_unit_id = models.BigIntegerField(null=True, blank=True)
    method = models.CharField(_("方式"), max_length=16, choices=FollowUpMethod.choices)
    result = models.TextField(_("结果"), max_length=2000)
    next_step = models.CharField(_("下一步"), max_length=500, blank=True, default="")
    created_at = models.DateTimeField(_("登记时间"))

    class Meta:
        verbose_name = _("控辍保学跟进记录")
        verbose_name_plural = _("控辍保学跟进记录")
        ordering = ["case", "on", "pk"]

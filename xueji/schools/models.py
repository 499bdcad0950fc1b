"""Schools: the units that hold status records."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from .rules import ManagingLevel, Operator, SchoolState, SchoolType


class School(models.Model):
    code = models.CharField(_("学校标识码"), max_length=10, unique=True)
    name = models.CharField(_("学校名称"), max_length=128)
    school_type = models.CharField(_("学校类型"), max_length=3, choices=SchoolType.choices)
    operator = models.CharField(_("办学性质"), max_length=1, choices=Operator.choices)
    # The county-level division for ordinary schools; empty for separately listed schools.
    division_code = models.CharField(_("所在区县"), max_length=6, blank=True, default="")
    # What scopes filter on: the division code, or '99xxxx' for separately listed schools.
    area_code = models.CharField(_("辖区代码"), max_length=6, db_index=True)
    province_code = models.CharField(_("省份代码"), max_length=2, db_index=True)
    managing_level = models.CharField(
        _("学籍主管层级"),
        max_length=16,
        choices=ManagingLevel.choices,
        default=ManagingLevel.COUNTY,
    )
    listed_separately = models.BooleanField(_("单列管理"), default=False)
    state = models.CharField(
        _("办学状态"), max_length=16, choices=SchoolState.choices, default=SchoolState.OPEN
    )
    successor = models.ForeignKey(
        "self",
        verbose_name=_("承接学校"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="predecessors",
    )
    closed_on = models.DateField(_("撤并日期"), null=True, blank=True)
    address = models.CharField(_("地址"), max_length=255, blank=True, default="")
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("学校")
        verbose_name_plural = _("学校")
        ordering = ["area_code", "code"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(state="open") | models.Q(closed_on__isnull=False),
                name="school_closed_has_date",
            ),
            models.CheckConstraint(
                condition=~models.Q(state="merged") | models.Q(successor__isnull=False),
                name="school_merged_has_successor",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name}（{self.code}）"

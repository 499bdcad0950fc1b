"""Reference data: the administrative division tree (GB/T 2260) and national code tables."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class DivisionLevel(models.IntegerChoices):
    PROVINCE = 1, _("省级")
    CITY = 2, _("地级")
    COUNTY = 3, _("县级")


class Division(models.Model):
    """One version of an administrative division.

    Codes are six digits (GB/T 2260). A code can be abolished and, years later, reused,
    so a row is one (code, validity period); the current row has ``valid_to`` empty.
    Municipalities directly under the central government get a synthetic city-level row
    (``110100`` 市辖区) so every county has a province → city → county path.
    """

    code = models.CharField(_("区划代码"), max_length=6, db_index=True)
    name = models.CharField(_("名称"), max_length=64)
    level = models.PositiveSmallIntegerField(_("级别"), choices=DivisionLevel.choices)
    parent_code = models.CharField(_("上级区划代码"), max_length=6, blank=True, default="")
    valid_from = models.DateField(_("启用日期"))
    valid_to = models.DateField(_("停用日期"), null=True, blank=True)

    class Meta:
        verbose_name = _("行政区划")
        verbose_name_plural = _("行政区划")
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(fields=["code", "valid_from"], name="division_code_version"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def prefix(self) -> str:
        """The code prefix shared by everything under this division (2, 4 or 6 digits)."""
        return self.code[: {1: 2, 2: 4, 3: 6}[self.level]]


class CodeTable(models.TextChoices):
    ETHNICITY = "ethnicity", _("民族")
    COUNTRY = "country", _("国籍/地区")
    ID_TYPE = "id_type", _("身份证件类型")
    HMT = "hmt", _("港澳台侨外")
    HEALTH = "health", _("健康状况")
    ENTRY_MODE = "entry_mode", _("入学方式")
    ATTENDANCE = "attendance", _("就读方式")
    HOUSEHOLD_TYPE = "household_type", _("户口性质")
    SCHOOL_TYPE = "school_type", _("学校类型")
    STAGE = "stage", _("学段")
    GRADE = "grade", _("年级")
    RELATION = "relation", _("家庭成员关系")
    DISABILITY = "disability", _("残疾类型")
    OPERATOR = "operator", _("办学性质")


class CodeItem(models.Model):
    """One entry of a national code table, loaded from the shipped data files."""

    table = models.CharField(_("代码表"), max_length=32, choices=CodeTable.choices)
    code = models.CharField(_("代码"), max_length=16)
    name = models.CharField(_("名称"), max_length=128)
    name_en = models.CharField(_("英文名称"), max_length=128, blank=True, default="")
    sort = models.PositiveIntegerField(_("排序"), default=0)
    extra = models.JSONField(_("附加属性"), default=dict, blank=True)
    active = models.BooleanField(_("有效"), default=True)

    class Meta:
        verbose_name = _("代码项")
        verbose_name_plural = _("代码项")
        ordering = ["table", "sort", "code"]
        constraints = [
            models.UniqueConstraint(fields=["table", "code"], name="code_item_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.table}:{self.code} {self.name}"

"""The person: basic status information (基础学籍信息), ID documents, student numbers.

Every read and write of an ID number goes through ``xueji.students.identity``; no other
module touches ``id_number`` or ``id_key`` directly.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from .fields import (
    EncryptedJSONField,
    EncryptedNumberField,
    EncryptedTextField,
    MaskedNumberField,
    NumberKeyField,
)

# The associated data of the encrypted columns (identity.*_CONTEXT; never change: stored
# values depend on them).
_NUMBER_CONTEXT = "students.student_number"
_GUARDIAN_PHONE_CONTEXT = "students.guardian_phone"
_NON_BASIC_CONTEXT = "students.non_basic"
_NUMBER_DERIVED = ("number_key", "number_masked")


def _with_derived(update_fields):
    """``update_fields`` with the number's index and masked form when the number is in it."""
    if update_fields is None or "number" not in update_fields:
        return update_fields
    return list(dict.fromkeys([*update_fields, *_NUMBER_DERIVED]))


class Sex(models.TextChoices):
    MALE = "1", _("男")
    FEMALE = "2", _("女")


class NumberKind(models.TextChoices):
    G = "G", _("正式学籍号（居民身份证）")
    J = "J", _("正式学籍号（无有效身份证件）")
    L = "L", _("临时学籍号")


class Student(models.Model):
    """One person known to the registry. Exactly one status record hangs off it."""

    # Encrypted (identity.STUDENT_NUMBER_CONTEXT); looked up through ``number_key``.
    number = EncryptedNumberField(_("学籍号"), context=_NUMBER_CONTEXT)
    number_key = NumberKeyField(unique=True, null=True, source="number")
    number_masked = MaskedNumberField(_("学籍号"), blank=True, default="", source="number")
    number_kind = models.CharField(_("学籍号类别"), max_length=1, choices=NumberKind.choices)
    name = models.CharField(_("姓名"), max_length=64)
    former_name = models.CharField(_("曾用名"), max_length=64, blank=True, default="")
    name_pinyin = models.CharField(_("姓名拼音"), max_length=128, blank=True, default="")
    # Toneless pinyin of the name, no spaces: the blocking key of the duplicate check.
    name_key = models.CharField(max_length=128, db_index=True, blank=True, default="")
    sex = models.CharField(_("性别"), max_length=1, choices=Sex.choices)
    birth_date = models.DateField(_("出生日期"))
    birthplace_code = models.CharField(_("出生地"), max_length=6, blank=True, default="")
    native_place_code = models.CharField(_("籍贯"), max_length=6, blank=True, default="")
    ethnicity = models.CharField(_("民族"), max_length=2, blank=True, default="")
    nationality = models.CharField(_("国籍/地区"), max_length=3, default="CHN")
    id_type = models.CharField(_("身份证件类型"), max_length=1, blank=True, default="")
    id_number = models.CharField(_("身份证件号"), max_length=255, blank=True, default="")
    # Keyed blind index of the normalised ID: exact search and one-record-per-ID uniqueness.
    id_key = models.CharField(max_length=64, null=True, blank=True, unique=True)
    id_valid_until = models.DateField(_("证件有效期至"), null=True, blank=True)
    hmt_code = models.CharField(_("港澳台侨外"), max_length=2, blank=True, default="00")
    household_place_code = models.CharField(_("户口所在地"), max_length=6, blank=True, default="")
    household_type = models.CharField(_("户口性质"), max_length=1, blank=True, default="")
    health = models.CharField(_("健康状况"), max_length=2, blank=True, default="")
    # Basic data are frozen after graduation (requirements §5).
    frozen = models.BooleanField(_("基础信息已冻结"), default=False)
    created_at = models.DateTimeField(_("创建时间"))
    updated_at = models.DateTimeField(_("更新时间"))

    class Meta:
        verbose_name = _("学生")
        verbose_name_plural = _("学生")
        indexes = [
            models.Index(fields=["birth_date", "sex", "name_key"], name="student_dup_block"),
            models.Index(fields=["name"], name="student_name"),
        ]

    def __str__(self) -> str:
        return f"{self.name}（{self.number_masked}）"

    def save(self, *args, update_fields=None, **kwargs) -> None:
        super().save(*args, update_fields=_with_derived(update_fields), **kwargs)


class StudentNumber(models.Model):
    """Every student number ever issued: a number is never reissued, even once retired."""

    number = EncryptedNumberField(_("学籍号"), context=_NUMBER_CONTEXT)
    # A number is never issued twice: the blind index is unique.
    number_key = NumberKeyField(unique=True, null=True, source="number")
    number_masked = MaskedNumberField(_("学籍号"), blank=True, default="", source="number")
    student = models.ForeignKey(Student, on_delete=models.PROTECT, related_name="numbers")
    kind = models.CharField(_("类别"), max_length=1, choices=NumberKind.choices)
    issued_at = models.DateTimeField(_("发放时间"))
    retired_at = models.DateTimeField(_("停用时间"), null=True, blank=True)
    reason = models.CharField(_("说明"), max_length=128, blank=True, default="")

    class Meta:
        verbose_name = _("学籍号记录")
        verbose_name_plural = _("学籍号记录")
        ordering = ["issued_at"]

    def save(self, *args, update_fields=None, **kwargs) -> None:
        super().save(*args, update_fields=_with_derived(update_fields), **kwargs)


class BasicInfoRevision(models.Model):
    """A correction of basic information: the fields changed, before and after."""

    student = models.ForeignKey(Student, on_delete=models.PROTECT, related_name="revisions")
    at = models.DateTimeField(_("时间"))
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_username = models.CharField(max_length=150, blank=True, default="")
    reason = models.CharField(_("原因"), max_length=255, blank=True, default="")
    changes = models.JSONField(_("变更内容"), default=dict)

    class Meta:
        verbose_name = _("基础信息修订")
        verbose_name_plural = _("基础信息修订")
        ordering = ["at", "pk"]


class Guardian(models.Model):
    """A guardian or family member (non-basic information, structured because the
    guardian's ID is used for sign-in and the duplicate check)."""

    student = models.ForeignKey(Student, on_delete=models.CASCADE, related_name="guardians")
    relation = models.CharField(_("关系"), max_length=2)
    name = models.CharField(_("姓名"), max_length=64)
    id_type = models.CharField(_("身份证件类型"), max_length=1, blank=True, default="")
    id_number = models.CharField(_("身份证件号"), max_length=255, blank=True, default="")
    id_key = models.CharField(max_length=64, null=True, blank=True, db_index=True)
    # Encrypted (identity.GUARDIAN_PHONE_CONTEXT): read and shown masked, never searched.
    phone = EncryptedTextField(
        _("联系电话"), max_length=255, blank=True, default="", context=_GUARDIAN_PHONE_CONTEXT
    )
    is_guardian = models.BooleanField(_("是否监护人"), default=True)

    class Meta:
        verbose_name = _("家庭成员")
        verbose_name_plural = _("家庭成员")


class NonBasicSchema(models.Model):
    """A province's definition of non-basic fields (Art. 3, 5), versioned and filed nationally.

    ``province_code`` '' is the national default schema.
    """

    province_code = models.CharField(_("省份代码"), max_length=2, blank=True, default="")
    version = models.PositiveIntegerField(_("版本"))
    fields = models.JSONField(_("字段定义"))
    filed_at = models.DateTimeField(_("备案时间"))
    filed_by = models.CharField(_("备案人"), max_length=150, blank=True, default="")
    note = models.CharField(_("说明"), max_length=255, blank=True, default="")

    class Meta:
        verbose_name = _("非基础信息方案")
        verbose_name_plural = _("非基础信息方案")
        constraints = [
            models.UniqueConstraint(fields=["province_code", "version"], name="nonbasic_version")
        ]


class NonBasicInfo(models.Model):
    student = models.OneToOneField(Student, on_delete=models.CASCADE, related_name="non_basic")
    schema = models.ForeignKey(NonBasicSchema, on_delete=models.PROTECT)
    # Addresses, phones and sensitive flags (disability, orphan, left-behind…): the whole
    # object encrypted as one value (identity.NON_BASIC_CONTEXT); nothing filters on it.
    data = EncryptedJSONField(_("内容"), default=dict, context=_NON_BASIC_CONTEXT)
    updated_at = models.DateTimeField(_("更新时间"))

    class Meta:
        verbose_name = _("非基础信息")
        verbose_name_plural = _("非基础信息")

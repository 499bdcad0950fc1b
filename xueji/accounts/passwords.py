"""The password policy (requirements §8, issue 3): rules, Django validators, and the writers.

- Pure rules (no clock, no database): length, character classes, the user name, and when a
  change is due.
- Validators for ``AUTH_PASSWORD_VALIDATORS``, so Django's ``validate_password`` applies the
  same policy (history included) wherever a password is set.
- ``password_apply`` (the one function that stores a password: hash, history, stamps, audit)
  and ``password_change`` (the account holder's own change, old password required).
"""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache

from django.contrib.auth.hashers import check_password
from django.contrib.auth.password_validation import CommonPasswordValidator, validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from xueji import clock
from xueji.audit.events import AuditAction, ObjectType
from xueji.audit.services import audit_record
from xueji.errors import FieldError, Forbidden, ValidationFailed

from .models import PasswordHistory, User
from .policy import security_policy

# ---------------------------------------------------------------- pure rules


class ChangeDue(StrEnum):
    """Why an account must change its password before doing anything else."""

    FIRST = "first"  # set by an administrator (new account or reset)
    EXPIRED = "expired"  # older than the policy's maximum age


@dataclass(frozen=True)
class RuleBreak:
    code: str
    message: str


def character_classes(password: str) -> int:
    """How many of the four classes occur: lower case, upper case, digits, anything else."""
    lower = any(c.islower() for c in password)
    upper = any(c.isupper() for c in password)
    digit = any(c.isdigit() for c in password)
    other = any(not (c.islower() or c.isupper() or c.isdigit()) for c in password)
    return lower + upper + digit + other


def password_rule_breaks(
    password: str, *, username: str, min_length: int, min_classes: int
) -> list[RuleBreak]:
    """Every rule of the policy that ``password`` breaks (empty: acceptable)."""
    breaks = []
    if len(password) < min_length:
        breaks.append(
            RuleBreak(
                "password.too_short",
                ngettext("密码至少需要 %(n)d 个字符。", "密码至少需要 %(n)d 个字符。", min_length)
                % {"n": min_length},
            )
        )
    if character_classes(password) < min_classes:
        breaks.append(
            RuleBreak(
                "password.too_few_classes",
                _("密码须包含大写字母、小写字母、数字、其他字符中的至少 %(k)d 类。")
                % {"k": min_classes},
            )
        )
    if username and username.casefold() in password.casefold():
        breaks.append(RuleBreak("password.contains_username", _("密码不得包含用户名。")))
    return breaks


def password_change_due(
    *, must_change: bool, changed_at: datetime | None, now: datetime, max_age_days: int
) -> ChangeDue | None:
    """Whether the password must be changed now; a max age of 0 switches expiry off.

    A password without a change date (set before the policy existed) counts as expired.
    """
    if must_change:
        return ChangeDue.FIRST
    if max_age_days > 0 and (
        changed_at is None or now - changed_at >= timedelta(days=max_age_days)
    ):
        return ChangeDue.EXPIRED
    return None


# Common passwords dressed up to pass the character-class rule: "Password123!",
# "P@ssw0rd2024", "Qwerty_2025", "Aa123456!". The word is taken out of its leading and
# trailing digits and symbols, look-alike characters are read as letters, and what remains
# is looked up in Django's list of 20,000 common passwords (and a few Chinese favourites).
_LOOK_ALIKES = str.maketrans(
    {"@": "a", "4": "a", "0": "o", "1": "i", "!": "i", "3": "e", "$": "s", "5": "s", "7": "t"}
)
_EDGES = re.compile(r"^[^a-z]+|[^a-z]+$")
_NOT_LETTER = re.compile(r"[^a-z]+")
_NOT_DIGIT = re.compile(r"[^0-9]+")
EXTRA_COMMON = frozenset(
    {"woaini", "wodemima", "zhongguo", "xueji", "xuejiguanli", "mima", "aini", "admin"}
)
COMMON_PART_MIN = 4  # shorter cores ("ab", "xy") are not judged


@cache
def _common_passwords() -> frozenset[str]:
    return frozenset(CommonPasswordValidator().passwords) | EXTRA_COMMON


def common_pattern(password: str) -> bool:
    """Whether ``password`` is a common password with digits or symbols around it, written
    with look-alike characters, or a common number behind a letter or two."""
    common = _common_passwords()
    lower = password.casefold().strip()
    core = _EDGES.sub("", lower)
    letters = _NOT_LETTER.sub("", lower)
    digits = _NOT_DIGIT.sub("", lower)
    candidates = {lower, core, core.translate(_LOOK_ALIKES), letters}
    if any(len(c) >= COMMON_PART_MIN and c in common for c in candidates):
        return True
    # "Aa123456!", "Abc12345!": up to three letters and a common number.
    return len(letters) <= 3 and len(digits) >= COMMON_PART_MIN and digits in common


# ---------------------------------------------------------------- Django validators


class PasswordPolicyValidator:
    """Length, character classes and the user name, as ``security_policy()`` sets them."""

    def validate(self, password: str, user=None) -> None:
        policy = security_policy()
        breaks = password_rule_breaks(
            password,
            username=getattr(user, "username", "") or "",
            min_length=policy.password_min_length,
            min_classes=policy.password_min_classes,
        )
        if breaks:
            raise ValidationError([ValidationError(b.message, code=b.code) for b in breaks])

    def get_help_text(self) -> str:
        policy = security_policy()
        return _(
            "至少 %(n)d 个字符，包含大写字母、小写字母、数字、其他字符中的至少 %(k)d 类，"
            "且不得包含用户名。"
        ) % {"n": policy.password_min_length, "k": policy.password_min_classes}


class CommonPatternValidator:
    """A common password dressed up with digits, symbols or look-alike characters
    (``common_pattern``); Django's ``CommonPasswordValidator`` refuses the plain ones."""

    def validate(self, password: str, user=None) -> None:
        if common_pattern(password):
            raise ValidationError(
                _("密码由常见密码加数字或符号组成（如 Password123!），容易被猜中，请换一个。"),
                code="password.common_pattern",
            )

    def get_help_text(self) -> str:
        return _("不得使用常见密码或其变形（如 Password123!）。")


class PasswordHistoryValidator:
    """Neither the current password nor any of the last ``password_history`` ones."""

    def validate(self, password: str, user=None) -> None:
        if user is None:
            return
        # hashers.check_password, not user.check_password: no hash upgrade written here.
        if user.password and check_password(password, user.password):
            raise ValidationError(_("新密码不得与当前密码相同。"), code="password.same_as_current")
        if user.pk is None:
            return
        count = security_policy().password_history
        recent = PasswordHistory.objects.filter(user=user).values_list("password", flat=True)
        if any(check_password(password, stored) for stored in recent[:count]):
            raise ValidationError(
                ngettext(
                    "新密码不得与最近 %(n)d 次使用过的密码相同。",
                    "新密码不得与最近 %(n)d 次使用过的密码相同。",
                    count,
                )
                % {"n": count},
                code="password.reused",
            )

    def get_help_text(self) -> str:
        return _("不得重复使用最近 %(n)d 次的密码。") % {"n": security_policy().password_history}


def password_field_errors(
    password: str, user: User, *, field: str = "password"
) -> list[FieldError]:
    """What ``validate_password`` (every configured validator) finds, as field errors."""
    try:
        validate_password(password, user)
    except ValidationError as error:
        found = []
        for item in error.error_list:
            message = item.message % item.params if item.params else item.message
            code = item.code or "invalid"
            found.append(
                FieldError(
                    field,
                    code if code.startswith("password.") else f"password.{code}",
                    str(message),
                )
            )
        return found
    return []


# ---------------------------------------------------------------- writers


def password_apply(
    *, user: User, new_password: str, must_change: bool, actor: User | None = None
) -> None:
    """Validate and store a new password: hash (Argon2), history, change date, and whether
    the holder must change it at the next sign-in, with the audit event, in one transaction.

    ``actor`` is whoever set it (None: an operator command); the account itself when the
    holder changes their own. An unsaved ``user`` is saved (account creation).
    """
    errors = password_field_errors(new_password, user)
    if errors:
        raise ValidationFailed(errors, message=_("密码不符合安全策略。"))
    now = clock.now()
    policy = security_policy()
    with transaction.atomic():
        user.set_password(new_password)
        user.password_changed_at = now
        user.must_change_password = must_change
        if user.pk is None:
            user.save()
        else:
            user.save(update_fields=["password", "password_changed_at", "must_change_password"])
        PasswordHistory.objects.create(user=user, password=user.password, created_at=now)
        keep = max(policy.password_history, 1)
        stale = list(PasswordHistory.objects.filter(user=user).values_list("pk", flat=True)[keep:])
        if stale:
            PasswordHistory.objects.filter(pk__in=stale).delete()
        by_self = actor is not None and actor.pk == user.pk
        audit_record(
            actor=actor,
            action=AuditAction.ACCOUNT_PASSWORD_SET,
            object_type=ObjectType.USER,
            object_id=user.pk,
            summary=(
                f"{user.username} 修改了自己的密码"
                if by_self
                else f"设置 {user.username} 的密码" + ("（首次登录须修改）" if must_change else "")
            ),  # stored data: always Chinese
            detail={"must_change": must_change, "by_self": by_self},
        )


def password_change(*, actor: User, user: User, old_password: str, new_password: str) -> None:
    """The account holder changes their own password; the old one must be given.

    A refusal (wrong old password, a new one the policy rejects) is audited and raised.
    """
    if actor.pk != user.pk:
        raise Forbidden(_("只能修改本人的密码。"))
    if not user.check_password(old_password):
        errors = [FieldError("old_password", "password.old_wrong", _("原密码不正确。"))]
    else:
        errors = password_field_errors(new_password, user, field="new_password")
    if errors:
        with transaction.atomic():
            audit_record(
                actor=actor,
                action=AuditAction.ACCOUNT_PASSWORD_CHANGE_REFUSED,
                object_type=ObjectType.USER,
                object_id=user.pk,
                summary=f"{user.username} 修改密码被拒绝",
                detail={"codes": [e.code for e in errors]},
            )
        raise ValidationFailed(errors, message=_("密码未修改。"))
    password_apply(user=user, new_password=new_password, must_change=False, actor=actor)

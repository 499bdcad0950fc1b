"""What a data release (数据发布, Art. 24) may be: its states and their transitions, the legal
basis it needs, who may approve it, the fields it may carry, and the keyed functions behind
its pseudonyms, row order and traces. Pure: no database, time passed in.
"""

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

from django.db import models
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from xueji.errors import FieldError

# k of the k-anonymity every row-level release meets, and the smallest table cell shown: the
# defaults of settings.XUEJI["RELEASE_MIN_K"] / ["RELEASE_CELL_THRESHOLD"]. A request may ask
# for more, never for less.
MIN_K = 5
CELL_THRESHOLD = 5
MAX_K = 100
# A release is downloadable for at most this many days after it is requested.
MAX_EXPIRY_DAYS = 366
PURPOSE_MIN = 4


class ReleaseState(models.TextChoices):
    SUBMITTED = "submitted", _("待审核")
    REVIEWED = "reviewed", _("待批准")
    APPROVED = "approved", _("已批准，待生成")
    GENERATED = "generated", _("已生成")
    REJECTED = "rejected", _("未通过")
    FAILED = "failed", _("生成失败")


class BasisKind(models.TextChoices):
    LAW = "law", _("法律规定")
    GOVERNMENT = "government", _("县级以上人民政府批准")


class GovernmentLevel(models.TextChoices):
    NATIONAL = "national", _("国务院")
    PROVINCE = "province", _("省级人民政府")
    CITY = "city", _("设区的市级人民政府")
    COUNTY = "county", _("县级人民政府")
    # Listed so that a township's approval is refused with its reason, not as an unknown value.
    TOWNSHIP = "township", _("乡镇人民政府")


# Art. 24: a people's government at county level or above.
APPROVING_GOVERNMENT_LEVELS = frozenset(
    {
        GovernmentLevel.NATIONAL,
        GovernmentLevel.PROVINCE,
        GovernmentLevel.CITY,
        GovernmentLevel.COUNTY,
    }
)
# Units whose reviewers may approve a release: authorities at county level or above
# (accounts.models.UnitKind values; a school and the separately listed schools are not).
APPROVING_UNIT_KINDS = frozenset({"national", "province", "city", "county"})


class ReleaseKind(models.TextChoices):
    ROWS = "rows", _("个体数据（去标识化）")
    TABLE = "table", _("统计表")


class IdentifierMethod(models.TextChoices):
    DROP = "drop", _("删除直接标识符")
    PSEUDONYM = "pseudonym", _("替换为本次发布专用的假名编号")


class BirthGeneralisation(models.TextChoices):
    YEAR = "year", _("出生年份")
    FIVE_YEARS = "five_years", _("五年区间")


class OutputFormat(models.TextChoices):
    CSV = "csv", "CSV"
    XLSX = "xlsx", "Excel (xlsx)"


# The fields a release may carry, in the order its columns appear. Direct identifiers (name,
# student number, ID number, guardians, addresses, phones) are never among them: a row-level
# release identifies a person only by its per-release pseudonym. Every field released in a
# row-level release counts as a quasi-identifier for the k-anonymity check.
FIELDS: dict[str, Promise] = {
    "sex": _("性别"),
    "birth": _("出生年份"),
    "ethnicity": _("民族"),
    "nationality": _("国籍/地区"),
    "household_type": _("户口性质"),
    "health": _("健康状况"),
    "county": _("所在区县"),
    "school_type": _("学校类型"),
    "stage": _("学段"),
    "grade": _("年级"),
    "state": _("学籍状态"),
    "entry_year": _("入学年份"),
}
# Column titles written into the files: stored data, always Chinese.
FIELD_TITLES: dict[str, str] = {
    "sex": "性别",
    "birth": "出生年份",
    "ethnicity": "民族",
    "nationality": "国籍/地区",
    "household_type": "户口性质",
    "health": "健康状况",
    "county": "所在区县",
    "school_type": "学校类型",
    "stage": "学段",
    "grade": "年级",
    "state": "学籍状态",
    "entry_year": "入学年份",
}
PSEUDONYM_TITLE = "编号"
COUNT_TITLE = "人数"
SUPPRESSED_CELL = "<{threshold}"


# ---------------------------------------------------------------- the pipeline

# (state, action) → next state. ``release_transition`` in services is the one mutator.
TRANSITIONS: dict[str, dict[str, str]] = {
    ReleaseState.SUBMITTED: {"review": ReleaseState.REVIEWED, "reject": ReleaseState.REJECTED},
    ReleaseState.REVIEWED: {"approve": ReleaseState.APPROVED, "reject": ReleaseState.REJECTED},
    ReleaseState.APPROVED: {"generate": ReleaseState.GENERATED, "fail": ReleaseState.FAILED},
    ReleaseState.FAILED: {"generate": ReleaseState.GENERATED, "fail": ReleaseState.FAILED},
}


def next_state(state: str, action: str) -> str | None:
    return TRANSITIONS.get(state, {}).get(action)


def downloadable(*, state: str, expires_on: date, today: date) -> bool:
    """Generated, and today is on or before the expiry date (Asia/Shanghai)."""
    return state == ReleaseState.GENERATED and today <= expires_on


# ---------------------------------------------------------------- the request

_LAW_NAME = re.compile(r"《[^《》]{2,}》")
_ARTICLE = re.compile(r"第[一二三四五六七八九十百千零〇\d]+条")
_GOVERNMENT = re.compile(r"人民政府|国务院")


def basis_errors(
    *,
    kind: str,
    law: str,
    authority: str,
    level: str,
    document_no: str,
    has_document: bool,
) -> list[FieldError]:
    """Whether the legal basis is valid (Art. 24): a law named with its article, or the
    approval document of a people's government at county level or above, uploaded."""
    errors = []
    if kind == BasisKind.LAW:
        if not law.strip():
            errors.append(
                FieldError("basis_law", "release.basis_missing", gettext("请写明依据的法律条款。"))
            )
        elif not (_LAW_NAME.search(law) and _ARTICLE.search(law)):
            errors.append(
                FieldError(
                    "basis_law",
                    "release.basis_law_article",
                    gettext("请写明法律名称（加书名号）和条款，如《中华人民共和国统计法》第七条。"),
                    law[:64],
                )
            )
    elif kind == BasisKind.GOVERNMENT:
        if level not in APPROVING_GOVERNMENT_LEVELS:
            errors.append(
                FieldError(
                    "basis_level",
                    "release.basis_below_county",
                    gettext("批准文件须由县级以上人民政府作出，乡镇人民政府的批准不能作为依据。"),
                    level[:16],
                )
            )
        if not _GOVERNMENT.search(authority):
            errors.append(
                FieldError(
                    "basis_authority",
                    "release.basis_authority",
                    gettext("请填写作出批准的人民政府名称，如××县人民政府。"),
                    authority[:64],
                )
            )
        if not document_no.strip():
            errors.append(
                FieldError(
                    "basis_document_no", "release.basis_document_no", gettext("请填写批准文号。")
                )
            )
        if not has_document:
            errors.append(
                FieldError(
                    "basis_document",
                    "release.basis_document_missing",
                    gettext("请上传人民政府的批准文件（PDF、JPG 或 PNG）。"),
                )
            )
    else:
        errors.append(
            FieldError(
                "basis_kind", "release.basis_missing", gettext("请选择法律依据或人民政府批准。")
            )
        )
    return errors


def request_errors(
    *,
    purpose: str,
    kind: str,
    fields: list[str],
    identifiers: str,
    birth: str,
    k: int,
    threshold: int,
    output_format: str,
    organisation: str,
    has_recipient: bool,
    expires_on: date | None,
    today: date,
    min_k: int = MIN_K,
    min_threshold: int = CELL_THRESHOLD,
) -> list[FieldError]:
    """Every broken rule of a request (besides its basis), each on its field."""
    errors = []
    if len(purpose.strip()) < PURPOSE_MIN:
        errors.append(FieldError("purpose", "release.purpose_missing", gettext("请写明数据用途。")))
    if kind not in ReleaseKind.values:
        errors.append(FieldError("kind", "release.kind_unknown", gettext("请选择发布形式。")))
    unknown = [f for f in fields if f not in FIELDS]
    if not fields or unknown:
        errors.append(
            FieldError(
                "fields",
                "release.fields",
                gettext(
                    "请从可发布的字段中选择至少一项（姓名、学籍号、身份证件号等直接标识符不能发布）。"
                ),
                ",".join(unknown)[:64],
            )
        )
    if identifiers not in IdentifierMethod.values:
        errors.append(
            FieldError(
                "identifiers", "release.identifiers", gettext("请选择直接标识符的处理方式。")
            )
        )
    if birth not in BirthGeneralisation.values:
        errors.append(FieldError("birth", "release.birth", gettext("请选择出生日期的泛化方式。")))
    if not min_k <= k <= MAX_K:
        errors.append(
            FieldError(
                "k",
                "release.k_range",
                gettext("k 值须在 %(low)d 到 %(high)d 之间。") % {"low": min_k, "high": MAX_K},
                str(k),
            )
        )
    if not min_threshold <= threshold <= MAX_K:
        errors.append(
            FieldError(
                "threshold",
                "release.threshold_range",
                gettext("小单元格抑制阈值须在 %(low)d 到 %(high)d 之间。")
                % {"low": min_threshold, "high": MAX_K},
                str(threshold),
            )
        )
    if output_format not in OutputFormat.values:
        errors.append(FieldError("format", "release.format", gettext("请选择文件格式。")))
    if not organisation.strip():
        errors.append(
            FieldError(
                "recipient_organisation",
                "release.recipient_organisation",
                gettext("请填写接收单位。"),
            )
        )
    if not has_recipient:
        errors.append(
            FieldError(
                "recipient",
                "release.recipient_unknown",
                gettext("请填写接收人的系统账号（用户名）。"),
            )
        )
    if expires_on is None:
        errors.append(
            FieldError("expires_on", "release.expiry_missing", gettext("请填写下载截止日期。"))
        )
    elif expires_on < today:
        errors.append(
            FieldError("expires_on", "release.expiry_past", gettext("下载截止日期不能早于今天。"))
        )
    elif expires_on > today + timedelta(days=MAX_EXPIRY_DAYS):
        errors.append(
            FieldError(
                "expires_on",
                "release.expiry_too_far",
                gettext("下载截止日期最长为一年。"),
            )
        )
    return errors


@dataclass(frozen=True)
class ApprovalRefusal:
    code: str
    message: str


def approval_refusal(
    *,
    approver_id: int,
    approver_unit_kind: str,
    requester_id: int | None,
    reviewer_id: int | None,
) -> ApprovalRefusal | None:
    """Who may approve (谁批准谁负责): a reviewer of an authority at county level or above
    (the caller has checked that its subtree holds the requesting unit), who neither asked for
    the release nor reviewed it."""
    if approver_unit_kind not in APPROVING_UNIT_KINDS:
        return ApprovalRefusal(
            "release.approver_below_county",
            gettext("数据发布须由县级以上教育行政部门批准，本单位不能批准。"),
        )
    if approver_id in (requester_id, reviewer_id):
        return ApprovalRefusal(
            "release.approver_not_independent",
            gettext("申请人和审核人不能批准同一项数据发布。"),
        )
    return None


# ---------------------------------------------------------------- keyed functions

# A pseudonym: "P", 12 hex digits keyed by (release, student), then 2 hex digits keyed by the
# release over the first 12: the hidden fingerprint. A copy's pseudonyms verify under exactly
# one release's key; under any other each matches by chance with probability 1/256.
PSEUDONYM = re.compile(r"^P([0-9a-f]{12})([0-9a-f]{2})$")


def release_key(master: bytes, salt: str) -> bytes:
    """The release's own key: the master key (from the secret key) and its random salt."""
    return hmac.new(master, b"xueji.release:" + salt.encode(), hashlib.sha256).digest()


@lru_cache(maxsize=64)
def _keyed(key: bytes) -> "hmac.HMAC":
    # HMAC-SHA256 with the key already absorbed: each message then costs one copy.
    return hmac.new(key, digestmod=hashlib.sha256)


def _mac(key: bytes, message: str) -> str:
    mac = _keyed(key).copy()
    mac.update(message.encode())
    return mac.hexdigest()


def pseudonym(key: bytes, student_id: int) -> str:
    body = _mac(key, f"p:{student_id}")[:12]
    return f"P{body}{_mac(key, f't:{body}')[:2]}"


def pseudonym_verifies(key: bytes, value: str) -> bool:
    match = PSEUDONYM.match(value.strip())
    if match is None:
        return False
    return hmac.compare_digest(_mac(key, f"t:{match.group(1)}")[:2], match.group(2))


def row_order_key(key: bytes, token: str) -> str:
    """The keyed position of a row: rows are written in this order, so a copy's order names
    the release it came from even without pseudonyms."""
    return _mac(key, f"o:{token}")


def birth_label(year: int | None, method: str) -> str:
    if year is None:
        return ""
    year = int(year)  # a database may hand the generalised year back as a float
    if method == BirthGeneralisation.FIVE_YEARS:
        start = year - year % 5
        return f"{start}-{start + 4}"
    return str(year)


# ---------------------------------------------------------------- tracing

TRACE_MIN_ROWS = 20
TRACE_MIN_SHARE = 0.9


def trace_named(*, matched: int, total: int) -> bool:
    """Enough rows of a copy verify under one release to name it."""
    return total >= TRACE_MIN_ROWS and matched >= TRACE_MIN_SHARE * total


def find_run(haystack: list[tuple], needle: list[tuple]) -> int | None:
    """Where ``needle`` appears as consecutive rows of ``haystack`` (0-based), or ``None``."""
    if not needle or len(needle) > len(haystack):
        return None
    first = needle[0]
    size = len(needle)
    for start in range(len(haystack) - size + 1):
        if haystack[start] == first and haystack[start : start + size] == needle:
            return start
    return None


# ---------------------------------------------------------------- publication (item 5)


class PublicationRoute(models.TextChoices):
    DIRECT = "direct", _("可直接公开")
    RELEASE = "release", _("须经数据发布审批")


def publication_route(*, kind: str, cells: Iterable[int], threshold: int) -> str:
    """Statistics for the public or other departments: an aggregate table whose every cell
    holds at least ``threshold`` people may be published directly; anything else (row-level
    data, a table with a smaller cell) goes through the release process."""
    if kind != ReleaseKind.TABLE:
        return PublicationRoute.RELEASE
    counts = list(cells)
    if all(count >= threshold for count in counts):
        return PublicationRoute.DIRECT
    return PublicationRoute.RELEASE


def small_groups(rows: Iterable[tuple], k: int) -> dict[tuple, int]:
    """The quasi-identifier combinations held by fewer than ``k`` rows."""
    counts: dict[tuple, int] = {}
    for row in rows:
        counts[row] = counts.get(row, 0) + 1
    return {row: n for row, n in counts.items() if n < k}

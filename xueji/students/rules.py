"""Pure rules for ID documents and student numbers (学籍号).

Nothing here touches the database or reads the clock: ``today`` is always passed in, and
the division table is passed in as ``area_known``, a predicate on 6-digit codes.

Number layouts:

- Resident ID (居民身份证, GB 11643-1999): 6-digit area code (GB/T 2260) + YYYYMMDD
  + 3-digit sequence (odd = male) + ISO 7064 MOD 11-2 check character ('X' for 10).
  The old 15-digit form is area + YYMMDD (19xx) + sequence, without a check character.
- Hong Kong / Macau / Taiwan residence permit (港澳台居民居住证): the same layout with area
  code 810000 (Hong Kong), 820000 (Macau) or 830000 (Taiwan).
- Mainland travel permit for Hong Kong and Macau residents (回乡证): H or M + 8 digits
  (card issued since 2013); older booklets carry H/M + 10 digits (8-digit lifelong number
  + 2-digit issue count).
- Mainland travel permit for Taiwan residents (台胞证): 8-digit lifelong number (since
  2008-09-25). Booklets of 1992-2008 carry the lifelong number + 2-digit issue count,
  optionally followed by the issuing authority's code in parentheses: a letter (A-D, the
  Hong Kong and Macau agencies) or two digits (a province code such as 31, 32, 35).
  Normalisation drops the parentheses: ``0099730503(B)`` is kept as ``0099730503B``.
- Foreign permanent resident ID (外国人永久居留身份证), 2023 card: 18 characters = "9"
  + 2-digit province of the issuing office + 3-digit ISO 3166 numeric nationality
  + YYYYMMDD + 3-digit sequence (odd = male) + MOD 11-2 check character, as for resident IDs.
  2017 card: 15 characters = ISO 3166 alpha-3 nationality + 4-digit province-and-city code
  of the issuing office + YYMMDD + 1 sequence digit (odd = male) + 1 check digit computed
  with the ICAO 9303 7-3-1 weights over the first 14 characters.
- Student numbers: ``G`` + 18-character resident ID; ``J`` + 6-digit school division code
  + YYYYMMDD + 3-digit sequence + MOD 11-2 check character over the 17 characters after
  the ``J``; ``L`` + division code + YYYYMMDD + 4 random digits (temporary). All 19 long.
"""

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from operator import mul
from typing import NamedTuple

from django.db.models import TextChoices
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy


class IdType(TextChoices):
    """ID document types (证件类型); the codes are stored and exchanged, never renumbered."""

    RESIDENT_ID = "1", gettext_lazy("居民身份证")
    RESIDENCE_PERMIT = "2", gettext_lazy("港澳台居民居住证")
    HKMO_PERMIT = "3", gettext_lazy("港澳居民来往内地通行证")
    TW_PERMIT = "4", gettext_lazy("台湾居民来往大陆通行证")
    PASSPORT = "5", gettext_lazy("护照")
    FOREIGN_PERMANENT = "6", gettext_lazy("外国人永久居留身份证")
    OTHER = "9", gettext_lazy("其他")


class IdCode(StrEnum):
    """Stable machine codes of an ID or student-number check; published, never renamed."""

    OK = "ok"
    EMPTY = "id.empty"
    LENGTH = "id.length"
    FORMAT = "id.format"
    WRONG_TYPE = "id.wrong_type"
    DATE_INVALID = "id.date_invalid"
    DATE_FUTURE = "id.date_future"
    TOO_OLD = "id.too_old"
    AREA_UNKNOWN = "id.area_unknown"
    CHECKSUM = "id.checksum"


class StudentNumberCode(StrEnum):
    """Stable machine codes of a student-number check."""

    OK = "ok"
    EMPTY = "student_number.empty"
    KIND = "student_number.kind"
    LENGTH = "student_number.length"
    FORMAT = "student_number.format"
    DATE_INVALID = "student_number.date_invalid"
    DATE_FUTURE = "student_number.date_future"
    TOO_OLD = "student_number.too_old"
    CHECKSUM = "student_number.checksum"


MALE = "1"
FEMALE = "2"

# Birth dates before this are typing errors, not people.
EARLIEST_BIRTH = date(1900, 1, 1)

# GB 11643 weights 2^(17-i) mod 11 for the 17 body positions, and the check characters
# for a weighted sum mod 11 of 0..10.
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"

# Hong Kong, Macau, Taiwan.
PERMIT_PREFIXES = frozenset({"810000", "820000", "830000"})

# Province-level codes of GB/T 2260 (stable since Chongqing's 50 in 1997); the issuing
# office of a foreign permanent resident ID is one of them.
PROVINCE_CODES = frozenset(
    {
        *("11", "12", "13", "14", "15", "21", "22", "23"),
        *("31", "32", "33", "34", "35", "36", "37"),
        *("41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54"),
        *("61", "62", "63", "64", "65"),
    }
)

# Characters that survive .strip() but are never part of a number (pasted from Excel/Word).
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"

# Translated only when a message is built: a valid number costs no gettext lookup.
_RESIDENT_ID_LABEL = gettext_lazy("居民身份证号码")

_RESIDENT_RE = re.compile(r"\d{17}[\dX]", re.ASCII)
_HKMO_RE = re.compile(r"[HM](\d{8}|\d{10})", re.ASCII)
_TW_RE = re.compile(r"\d{8}|\d{10}|\d{10}[A-Z]|\d{12}", re.ASCII)
_PASSPORT_RE = re.compile(r"[A-Z0-9]+", re.ASCII)
_FOREIGN_OLD_RE = re.compile(r"[A-Z]{3}\d{12}", re.ASCII)


@dataclass(frozen=True)
class IdCheck:
    """The outcome of checking one ID number.

    ``number`` is the normalised number (also on failure, for showing back); ``code`` is
    ``IdCode.OK`` or the first rule broken, ``message`` says in Chinese what is wrong.
    ``birth_date``, ``sex`` ("1" male, "2" female) and ``area_code`` are filled when the
    number encodes them and the check passed.
    """

    ok: bool
    number: str
    code: str
    message: str
    birth_date: date | None = None
    sex: str | None = None
    area_code: str | None = None


class StudentNumberParts(NamedTuple):
    """A student number split into its fields (structure only, check char not verified)."""

    kind: str  # "G", "J" or "L"
    number: str
    division_code: str  # area code of the ID for G, the school's division for J and L
    birth_date: date
    sequence: str  # 3 digits for G and J, the 4 random digits for L
    check_char: str | None  # None for L


class StudentNumberCheck(NamedTuple):
    ok: bool
    code: str
    message: str


# --- checksums and conversions ----------------------------------------------------------


def resident_id_check_char(body17: str) -> str:
    """The GB 11643 check character (ISO 7064 MOD 11-2) of 17 ASCII digits."""
    if len(body17) != 17 or not body17.isascii() or not body17.isdigit():
        raise ValueError("body17 must be 17 ASCII digits")
    total = sum(map(mul, map(int, body17), _WEIGHTS))
    return _CHECK_CHARS[total % 11]


def upgrade_15_to_18(number15: str) -> str:
    """Turn an old 15-digit resident ID into the 18-character form (century 19, check char).

    Raises ``ValueError`` unless ``number15`` is 15 ASCII digits; the date is not checked.
    """
    if len(number15) != 15 or not number15.isascii() or not number15.isdigit():
        raise ValueError("number15 must be 15 ASCII digits")
    body = number15[:6] + "19" + number15[6:]
    return body + resident_id_check_char(body)


def _icao_check_digit(text: str) -> str:
    """ICAO 9303 check digit: weights 7, 3, 1 repeating; A=10 .. Z=35; sum mod 10."""
    total = 0
    for i, ch in enumerate(text):
        value = int(ch) if ch.isdigit() else ord(ch) - ord("A") + 10
        total += value * (7, 3, 1)[i % 3]
    return str(total % 10)


def _to_halfwidth(text: str) -> str:
    """Map full-width ASCII (U+FF01..U+FF5E) and the ideographic space to plain ASCII."""
    if text.isascii():
        return text  # nothing full-width in it (the usual case, checked fast)
    out = []
    for ch in text:
        code = ord(ch)
        if 0xFF01 <= code <= 0xFF5E:
            out.append(chr(code - 0xFEE0))
        elif ch == "\u3000":
            out.append(" ")
        else:
            out.append(ch)
    return "".join(out)


def _strip(text: str) -> str:
    """Remove surrounding whitespace (U+3000 included) and zero-width characters."""
    while True:
        stripped = text.strip().strip(_INVISIBLE)
        if stripped == text:
            return text
        text = stripped


def _parse_date(yyyymmdd: str) -> date | None:
    try:
        return date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        return None


def _sex(digit: str) -> str:
    return MALE if int(digit) % 2 else FEMALE


# --- normalisation ------------------------------------------------------------------------


def normalize_id(id_type: str, raw: str) -> str:
    """The canonical form of an ID number as typed.

    Strips surrounding whitespace (full-width spaces too), maps full-width letters, digits
    and parentheses to ASCII and upper-cases. Resident IDs: a 15-digit number with a real
    date is upgraded to 18 characters. Taiwan travel permits: the parentheses around the
    issuing authority's code are dropped. Inner spaces are kept, so validation can reject
    them. ``OTHER`` numbers are only stripped and upper-cased.
    """
    text = _strip(raw or "")
    if id_type != IdType.OTHER:
        text = _strip(_to_halfwidth(text))
    text = text.upper()
    if id_type == IdType.RESIDENT_ID and len(text) == 15 and text.isascii() and text.isdigit():
        if _parse_date("19" + text[6:12]) is not None:
            text = upgrade_15_to_18(text)
    elif id_type == IdType.TW_PERMIT:
        match = re.fullmatch(r"(\d{10})\(([A-Z]|\d{2})\)", text, re.ASCII)
        if match:
            text = match[1] + match[2]
    return text


# --- validation ---------------------------------------------------------------------------


def _fail(number: str, code: IdCode, message: str) -> IdCheck:
    return IdCheck(ok=False, number=number, code=code, message=message)


def _first_bad_char(text: str, allowed: Callable[[int, str], bool]) -> tuple[int, str] | None:
    for i, ch in enumerate(text):
        if not allowed(i, ch):
            return i + 1, ch
    return None


def _is_digit(_position: int, ch: str) -> bool:
    return ch in "0123456789"


def _is_mod11_char(position: int, ch: str) -> bool:
    """Digits, and X in the check position (index 17) of an 18-character number."""
    return ch in "0123456789" or (position == 17 and ch == "X")


def _describe_char(ch: str) -> str:
    if ch == " ":
        return _("空格")
    if unicodedata.category(ch).startswith("C"):
        return f"U+{ord(ch):04X}"
    return f"“{ch}”"


def _no_inner_space(number: str, label: str | Promise) -> IdCheck | None:
    # isalnum() is the fast check: letters and digits only, so no space of any kind.
    if not number.isalnum() and any(ch.isspace() for ch in number):
        return _fail(number, IdCode.FORMAT, _("%(label)s中间不能有空格") % {"label": label})
    return None


def _check_birth_date(number: str, yyyymmdd: str, today: date) -> IdCheck | date:
    """The birth date, or the failure that describes why it is not acceptable."""
    born = _parse_date(yyyymmdd)
    if born is None:
        return _fail(
            number,
            IdCode.DATE_INVALID,
            _("出生日期 %(value)s 不是真实存在的日期") % {"value": yyyymmdd},
        )
    if born < EARLIEST_BIRTH:
        return _fail(
            number,
            IdCode.TOO_OLD,
            _("出生日期 %(value)s 早于 1900 年，不可能正确") % {"value": yyyymmdd},
        )
    if born > today:
        return _fail(
            number,
            IdCode.DATE_FUTURE,
            _("出生日期 %(value)s 晚于今天（%(today)s）")
            % {"value": yyyymmdd, "today": today.strftime("%Y%m%d")},
        )
    return born


def _check_mod11_shape(number: str, label: str | Promise) -> IdCheck | None:
    """Length and characters of an 18-character GB 11643-style number."""
    if len(number) != 18:
        return _fail(
            number,
            IdCode.LENGTH,
            _("%(label)s应为 18 位，实为 %(length)d 位") % {"label": label, "length": len(number)},
        )
    if number.isascii() and number[:17].isdigit() and (number[17].isdigit() or number[17] == "X"):
        return None  # 17 ASCII digits and a digit or X: the per-character scan would agree
    bad = _first_bad_char(number, _is_mod11_char)
    if bad is not None:
        position, ch = bad
        rule = _("末位应为数字或 X") if position == 18 else _("前 17 位应为数字")
        return _fail(
            number,
            IdCode.FORMAT,
            _("第 %(position)d 位是%(char)s，%(rule)s")
            % {"position": position, "char": _describe_char(ch), "rule": rule},
        )
    return None


def _check_mod11_char(number: str) -> IdCheck | None:
    expected = resident_id_check_char(number[:17])
    if number[17] != expected:
        return _fail(
            number,
            IdCode.CHECKSUM,
            _("校验码错误：应为 %(expected)s，实为 %(actual)s")
            % {"expected": expected, "actual": number[17]},
        )
    return None


def _validate_resident_id(number: str, today: date, area_known: Callable[[str], bool]) -> IdCheck:
    failure = _no_inner_space(number, _RESIDENT_ID_LABEL)
    if failure:
        return failure
    if len(number) == 15 and number.isascii() and number.isdigit():
        # normalize_id upgrades every 15-digit number whose date is real.
        return _fail(
            number,
            IdCode.DATE_INVALID,
            _("15 位旧号码中的出生日期 19%(value)s 不是真实存在的日期") % {"value": number[6:12]},
        )
    failure = _check_mod11_shape(number, _RESIDENT_ID_LABEL)
    if failure:
        return failure
    if number[:2] in ("81", "82", "83"):
        return _fail(
            number,
            IdCode.WRONG_TYPE,
            _(
                "以 %(prefix)s 开头的是港澳台居民居住证号码，不是居民身份证号码，"
                "请将证件类型选为港澳台居民居住证"
            )
            % {"prefix": number[:2]},
        )
    if number[0] == "9" and number[1:3] in PROVINCE_CODES:
        return _fail(
            number,
            IdCode.WRONG_TYPE,
            _(
                "以 9 开头的是外国人永久居留身份证号码，不是居民身份证号码，"
                "请将证件类型选为外国人永久居留身份证"
            ),
        )
    born = _check_birth_date(number, number[6:14], today)
    if isinstance(born, IdCheck):
        return born
    if not area_known(number[:6]):
        return _fail(
            number,
            IdCode.AREA_UNKNOWN,
            _("前 6 位地址码 %(area)s 不是有效的行政区划代码") % {"area": number[:6]},
        )
    failure = _check_mod11_char(number)
    if failure:
        return failure
    return IdCheck(
        ok=True,
        number=number,
        code=IdCode.OK,
        message="",
        birth_date=born,
        sex=_sex(number[16]),
        area_code=number[:6],
    )


def _validate_residence_permit(number: str, today: date) -> IdCheck:
    failure = _no_inner_space(number, _("港澳台居民居住证号码"))
    if failure:
        return failure
    failure = _check_mod11_shape(number, _("港澳台居民居住证号码"))
    if failure:
        return failure
    if number[:6] not in PERMIT_PREFIXES:
        return _fail(
            number,
            IdCode.FORMAT if number[:2] in ("81", "82", "83") else IdCode.WRONG_TYPE,
            _(
                "港澳台居民居住证号码应以 810000（香港）、820000（澳门）或 830000（台湾）开头，"
                "实为 %(prefix)s"
            )
            % {"prefix": number[:6]},
        )
    born = _check_birth_date(number, number[6:14], today)
    if isinstance(born, IdCheck):
        return born
    failure = _check_mod11_char(number)
    if failure:
        return failure
    return IdCheck(
        ok=True,
        number=number,
        code=IdCode.OK,
        message="",
        birth_date=born,
        sex=_sex(number[16]),
        area_code=number[:6],
    )


def _validate_hkmo_permit(number: str) -> IdCheck:
    label = _("港澳居民来往内地通行证号码")
    failure = _no_inner_space(number, label)
    if failure:
        return failure
    if _HKMO_RE.fullmatch(number):
        return IdCheck(ok=True, number=number, code=IdCode.OK, message="")
    if not number.startswith(("H", "M")):
        return _fail(
            number,
            IdCode.FORMAT,
            _("%(label)s应以 H（香港）或 M（澳门）开头") % {"label": label},
        )
    digits = number[1:]
    if not (digits.isascii() and digits.isdigit()):
        return _fail(
            number,
            IdCode.FORMAT,
            _("%(label)s的首字母之后应全为数字") % {"label": label},
        )
    return _fail(
        number,
        IdCode.LENGTH,
        _("%(label)s应为字母 H 或 M 加 8 位数字（旧版 10 位），实为 %(count)d 位数字")
        % {"label": label, "count": len(digits)},
    )


def _validate_tw_permit(number: str) -> IdCheck:
    label = _("台湾居民来往大陆通行证号码")
    failure = _no_inner_space(number, label)
    if failure:
        return failure
    if _TW_RE.fullmatch(number) and (len(number) != 12 or number[10:] in PROVINCE_CODES):
        return IdCheck(ok=True, number=number, code=IdCode.OK, message="")
    if number.isascii() and number.isdigit():
        return _fail(
            number,
            IdCode.LENGTH,
            _("%(label)s应为 8 位数字（旧版 10 位数字，可带签发机关代码），实为 %(count)d 位")
            % {"label": label, "count": len(number)},
        )
    return _fail(
        number,
        IdCode.FORMAT,
        _("%(label)s应为 8 位数字；旧版为 10 位数字，可后跟签发机关代码，如 0099730503(B)")
        % {"label": label},
    )


def _validate_passport(number: str) -> IdCheck:
    label = _("护照号码")
    failure = _no_inner_space(number, label)
    if failure:
        return failure
    if any(unicodedata.name(ch, "").startswith("CJK") for ch in number):
        return _fail(number, IdCode.FORMAT, _("护照号码不能包含汉字"))
    bad = _first_bad_char(number, lambda _i, ch: bool(_PASSPORT_RE.fullmatch(ch)))
    if bad is not None:
        position, ch = bad
        return _fail(
            number,
            IdCode.FORMAT,
            _("护照号码只能由字母和数字组成，第 %(position)d 位是%(char)s")
            % {"position": position, "char": _describe_char(ch)},
        )
    if not 5 <= len(number) <= 17:
        return _fail(
            number,
            IdCode.LENGTH,
            _("护照号码应为 5 到 17 位，实为 %(length)d 位") % {"length": len(number)},
        )
    return IdCheck(ok=True, number=number, code=IdCode.OK, message="")


def _validate_foreign_permanent(number: str, today: date) -> IdCheck:
    label = _("外国人永久居留身份证号码")
    failure = _no_inner_space(number, label)
    if failure:
        return failure
    if len(number) == 15:
        return _validate_foreign_permanent_2017(number, today)
    failure = _check_mod11_shape(number, label)
    if failure:
        if failure.code == IdCode.LENGTH:
            return _fail(
                number,
                IdCode.LENGTH,
                _("%(label)s应为 18 位（2023 版）或 15 位（2017 版），实为 %(length)d 位")
                % {"label": label, "length": len(number)},
            )
        return failure
    if number[0] != "9":
        return _fail(
            number,
            IdCode.FORMAT,
            _("18 位%(label)s应以 9 开头，实为 %(first)s") % {"label": label, "first": number[0]},
        )
    if number[1:3] not in PROVINCE_CODES:
        return _fail(
            number,
            IdCode.AREA_UNKNOWN,
            _("第 2、3 位受理地省份代码 %(code)s 不存在") % {"code": number[1:3]},
        )
    born = _check_birth_date(number, number[6:14], today)
    if isinstance(born, IdCheck):
        return born
    failure = _check_mod11_char(number)
    if failure:
        return failure
    return IdCheck(
        ok=True,
        number=number,
        code=IdCode.OK,
        message="",
        birth_date=born,
        sex=_sex(number[16]),
        area_code=number[1:3] + "0000",
    )


def _validate_foreign_permanent_2017(number: str, today: date) -> IdCheck:
    if not _FOREIGN_OLD_RE.fullmatch(number):
        return _fail(
            number,
            IdCode.FORMAT,
            _("15 位（2017 版）外国人永久居留身份证号码应为 3 位国籍字母代码加 12 位数字"),
        )
    if number[3:5] not in PROVINCE_CODES:
        return _fail(
            number,
            IdCode.AREA_UNKNOWN,
            _("第 4、5 位受理地省份代码 %(code)s 不存在") % {"code": number[3:5]},
        )
    yymmdd = number[7:13]
    # The two-digit year is read in the latest century that gives a date not after today.
    born = None
    for century in ("20", "19"):
        candidate = _parse_date(century + yymmdd)
        if candidate is not None and candidate <= today:
            born = candidate
            break
    if born is None:
        return _fail(
            number,
            IdCode.DATE_INVALID,
            _("第 8 至 13 位出生日期 %(value)s 不是真实存在的日期") % {"value": yymmdd},
        )
    expected = _icao_check_digit(number[:14])
    if number[14] != expected:
        return _fail(
            number,
            IdCode.CHECKSUM,
            _("校验码错误：应为 %(expected)s，实为 %(actual)s")
            % {"expected": expected, "actual": number[14]},
        )
    return IdCheck(
        ok=True,
        number=number,
        code=IdCode.OK,
        message="",
        birth_date=born,
        sex=_sex(number[13]),
        area_code=number[3:7] + "00",
    )


def _validate_other(number: str) -> IdCheck:
    if len(number) > 32:
        return _fail(
            number,
            IdCode.LENGTH,
            _("证件号码最长 32 个字符，实为 %(length)d 个") % {"length": len(number)},
        )
    bad = _first_bad_char(number, lambda _i, ch: unicodedata.category(ch) != "Cc")
    if bad is not None:
        position, ch = bad
        return _fail(
            number,
            IdCode.FORMAT,
            _("证件号码第 %(position)d 个字符是控制字符%(char)s")
            % {"position": position, "char": _describe_char(ch)},
        )
    return IdCheck(ok=True, number=number, code=IdCode.OK, message="")


def validate_id(
    id_type: str, raw: str, *, today: date, area_known: Callable[[str], bool]
) -> IdCheck:
    """Normalise ``raw`` and check it against the rules of ``id_type``.

    ``area_known`` answers whether a 6-digit GB/T 2260 code exists (used for resident
    IDs); ``today`` bounds birth dates.
    """
    number = normalize_id(id_type, raw)
    if not number:
        return _fail(number, IdCode.EMPTY, _("证件号码不能为空"))
    match id_type:
        case IdType.RESIDENT_ID:
            return _validate_resident_id(number, today, area_known)
        case IdType.RESIDENCE_PERMIT:
            return _validate_residence_permit(number, today)
        case IdType.HKMO_PERMIT:
            return _validate_hkmo_permit(number)
        case IdType.TW_PERMIT:
            return _validate_tw_permit(number)
        case IdType.PASSPORT:
            return _validate_passport(number)
        case IdType.FOREIGN_PERMANENT:
            return _validate_foreign_permanent(number, today)
        case IdType.OTHER:
            return _validate_other(number)
    raise ValueError(f"unknown ID type {id_type!r}")


# --- student numbers (学籍号) --------------------------------------------------------------


def _require_digits(value: str, length: int, what: str) -> None:
    if len(value) != length or not value.isascii() or not value.isdigit():
        raise ValueError(f"{what} must be {length} ASCII digits, got {value!r}")


def g_number(resident_id18: str) -> str:
    """The permanent student number of a citizen: ``G`` + the 18-character resident ID.

    Raises ``ValueError`` when the ID is not 17 digits + a correct check character.
    """
    number = _strip(resident_id18).upper()
    if not _RESIDENT_RE.fullmatch(number) or resident_id_check_char(number[:17]) != number[17]:
        raise ValueError(f"not a resident ID with a correct check character: {resident_id18!r}")
    return "G" + number


def j_number(division_code6: str, birth_date: date, seq: int) -> str:
    """The student number for a student without a usable ID.

    ``J`` + the school's 6-digit division code + YYYYMMDD + 3-digit sequence (1..999) + a
    MOD 11-2 check character over the 17 characters after the ``J``.
    """
    _require_digits(division_code6, 6, "division_code6")
    if not 1 <= seq <= 999:
        raise ValueError(f"seq must be 1..999, got {seq}")
    body = f"{division_code6}{birth_date:%Y%m%d}{seq:03d}"
    return "J" + body + resident_id_check_char(body)


def l_number(division_code6: str, birth_date: date, random4: str) -> str:
    """The temporary number given at first registration: ``L`` + division + YYYYMMDD + 4 digits."""
    _require_digits(division_code6, 6, "division_code6")
    _require_digits(random4, 4, "random4")
    return f"L{division_code6}{birth_date:%Y%m%d}{random4}"


def parse_student_number(s: str) -> StudentNumberParts | None:
    """Split a G, J or L number into its fields; ``None`` when the shape or the date is wrong.

    The check character is returned, not verified: see ``validate_student_number``.
    """
    number = _strip(_to_halfwidth(s or "")).upper()
    if len(number) != 19 or not number.isascii():
        return None
    kind, rest = number[0], number[1:]
    if kind in ("G", "J"):
        if not _RESIDENT_RE.fullmatch(rest):
            return None
        check_char: str | None = rest[17]
        sequence = rest[14:17]
    elif kind == "L":
        if not rest.isdigit():
            return None
        check_char = None
        sequence = rest[14:18]
    else:
        return None
    born = _parse_date(rest[6:14])
    if born is None:
        return None
    return StudentNumberParts(
        kind=kind,
        number=number,
        division_code=rest[:6],
        birth_date=born,
        sequence=sequence,
        check_char=check_char,
    )


def validate_student_number(s: str, *, today: date | None = None) -> StudentNumberCheck:
    """Check a student number of any kind; returns ``(ok, code, message)``.

    G: the embedded resident ID needs a real birth date from 1900 on (not after ``today``
    when given) and a correct check character. J: the same date rules and its own check
    character. L: ``L`` + 18 digits with a real birth date. Area codes are not looked up.
    """
    number = _strip(_to_halfwidth(s or "")).upper()
    if not number:
        return StudentNumberCheck(False, StudentNumberCode.EMPTY, _("学籍号不能为空"))
    kind = number[0]
    if kind not in ("G", "J", "L"):
        return StudentNumberCheck(
            False,
            StudentNumberCode.KIND,
            _("学籍号应以 G、J 或 L 开头，实为%(char)s") % {"char": _describe_char(kind)},
        )
    if len(number) != 19:
        return StudentNumberCheck(
            False,
            StudentNumberCode.LENGTH,
            _("学籍号应为 19 位，实为 %(length)d 位") % {"length": len(number)},
        )
    rest = number[1:]
    if kind == "L":
        bad = _first_bad_char(rest, _is_digit)
        rule = _("L 之后应为 18 位数字")
    else:
        bad = _first_bad_char(rest, _is_mod11_char)
        rule = _("%(kind)s 之后应为 17 位数字加 1 位校验码（数字或 X）") % {"kind": kind}
    if bad is not None:
        position, ch = bad
        return StudentNumberCheck(
            False,
            StudentNumberCode.FORMAT,
            _("学籍号第 %(position)d 位是%(char)s，%(rule)s")
            % {"position": position + 1, "char": _describe_char(ch), "rule": rule},
        )
    yyyymmdd = rest[6:14]
    born = _parse_date(yyyymmdd)
    if born is None:
        return StudentNumberCheck(
            False,
            StudentNumberCode.DATE_INVALID,
            _("学籍号中的出生日期 %(value)s 不是真实存在的日期") % {"value": yyyymmdd},
        )
    if born < EARLIEST_BIRTH:
        return StudentNumberCheck(
            False,
            StudentNumberCode.TOO_OLD,
            _("学籍号中的出生日期 %(value)s 早于 1900 年，不可能正确") % {"value": yyyymmdd},
        )
    if today is not None and born > today:
        return StudentNumberCheck(
            False,
            StudentNumberCode.DATE_FUTURE,
            _("学籍号中的出生日期 %(value)s 晚于今天（%(today)s）")
            % {"value": yyyymmdd, "today": today.strftime("%Y%m%d")},
        )
    if kind != "L":
        expected = resident_id_check_char(rest[:17])
        if rest[17] != expected:
            return StudentNumberCheck(
                False,
                StudentNumberCode.CHECKSUM,
                _("学籍号校验码错误：应为 %(expected)s，实为 %(actual)s")
                % {"expected": expected, "actual": rest[17]},
            )
    return StudentNumberCheck(True, StudentNumberCode.OK, "")

"""Names: what characters a name may hold, its pinyin, and its duplicate-check key.

Names are stored exactly as typed. They are never Unicode-normalised: NFC/NFKC would turn
CJK compatibility ideographs into other characters, and a rare-character name (生僻字, CJK
extension B and beyond) must come back byte for byte.
"""

import unicodedata
from collections.abc import Iterable
from functools import lru_cache

from django.utils.translation import gettext as _
from pypinyin import Style, lazy_pinyin

# pypinyin reads a surname as an ordinary word (曾 → ceng); surnames have their own readings.
COMPOUND_SURNAMES = {
    "欧阳": "ouyang",
    "司马": "sima",
    "上官": "shangguan",
    "诸葛": "zhuge",
    "东方": "dongfang",
    "皇甫": "huangfu",
    "尉迟": "yuchi",
    "公孙": "gongsun",
    "慕容": "murong",
    "长孙": "zhangsun",
    "令狐": "linghu",
    "澹台": "tantai",
    "宇文": "yuwen",
    "万俟": "moqi",
    "司徒": "situ",
    "夏侯": "xiahou",
    "端木": "duanmu",
    "独孤": "dugu",
    "南宫": "nangong",
    "西门": "ximen",
    "轩辕": "xuanyuan",
    "呼延": "huyan",
    "申屠": "shentu",
    "太史": "taishi",
    "闻人": "wenren",
}
SURNAME_READINGS = {
    "曾": "zeng",
    "单": "shan",
    "解": "xie",
    "仇": "qiu",
    "朴": "piao",
    "查": "zha",
    "区": "ou",
    "盖": "ge",
    "乐": "yue",
    "覃": "qin",
    "翟": "zhai",
    "召": "shao",
    "缪": "miao",
    "种": "chong",
    "秘": "bi",
    "冼": "xian",
    "阚": "kan",
    "厍": "she",
    "柏": "bai",
    "折": "she",
    "员": "yun",
    "谌": "shen",
    "逄": "pang",
    "繁": "po",
    "尉": "yu",
    "黑": "he",
    "句": "gou",
    "过": "guo",
    "长": "chang",
    "重": "chong",
    "藏": "zang",
    "沈": "shen",
    "燕": "yan",
    "华": "hua",
    "任": "ren",
    "宁": "ning",
    "纪": "ji",
    "眭": "sui",
    "隗": "wei",
    "郇": "huan",
    "蕃": "pi",
    "能": "nai",
    "鲜": "xian",
    "万": "wan",
    "薄": "bo",
    "洗": "xian",
    "牟": "mou",
    "车": "che",
}

MAX_NAME_LENGTH = 64


def _is_han(ch: str) -> bool:
    code = ord(ch)
    return (
        0x3400 <= code <= 0x4DBF  # extension A
        or 0x4E00 <= code <= 0x9FFF  # unified ideographs
        or 0xF900 <= code <= 0xFAFF  # compatibility ideographs
        or 0x20000 <= code <= 0x323AF  # extensions B–H (planes 2 and 3)
        or 0x2F800 <= code <= 0x2FA1F  # compatibility supplement
        or ch == "〇"
    )


def name_problem(name: str) -> str | None:
    """Why a name cannot be stored, or ``None``. Chinese messages for the user."""
    if not name:
        return _("姓名不能为空")
    if name != name.strip():
        return _("姓名首尾不能有空格")
    if len(name) > MAX_NAME_LENGTH:
        return _("姓名不能超过%(n)d个字符") % {"n": MAX_NAME_LENGTH}
    for ch in name:
        if _is_han(ch) or ch in "·•． -'":
            continue
        category = unicodedata.category(ch)
        if category.startswith("L") and not _is_han(ch):
            # Latin, Cyrillic, Tibetan, Uyghur (Arabic script) ... names of every nationality.
            continue
        if category.startswith("M"):
            continue  # combining marks of Tibetan, Arabic scripts, etc.
        if ch.isdigit():
            return _("姓名不能包含数字（%(char)s）") % {"char": ch}
        return _("姓名包含不允许的字符（U+%(code)s）") % {"code": f"{ord(ch):04X}"}
    if "  " in name:
        return _("姓名不能包含连续空格")
    return None


def has_rare_characters(name: str) -> bool:
    """Outside the Basic Multilingual Plane: needs 4 bytes in UTF-8 and is beyond GBK."""
    return any(ord(ch) > 0xFFFF for ch in name)


# Pure functions of the name, and names repeat (王伟, 张敏 ...): bulk imports ask for the
# same readings over and over, and pypinyin costs tens of microseconds a name.
@lru_cache(maxsize=1 << 17)
def name_pinyin(name: str) -> str:
    """Space-separated toneless pinyin, surname read as a surname (曾 → zeng)."""
    if not any(_is_han(ch) for ch in name):
        return name.upper()
    head: list[str] = []
    rest = name
    for compound, reading in COMPOUND_SURNAMES.items():
        if name.startswith(compound):
            head, rest = [reading], name[len(compound) :]
            break
    else:
        if name[0] in SURNAME_READINGS:
            head, rest = [SURNAME_READINGS[name[0]]], name[1:]
    return " ".join([*head, *_reading(rest)]).replace("·", " ").strip()


@lru_cache(maxsize=1 << 17)
def _reading(text: str) -> tuple[str, ...]:
    """pypinyin's toneless reading of the name after the surname; given names repeat far
    more often than whole names, so this cache is the one that hits in a bulk import."""
    return tuple(
        lazy_pinyin(
            text,
            style=Style.NORMAL,
            errors=lambda chars: [unread_token(c) for c in chars],  # type: ignore[arg-type,return-value]
        )
    )


# Hex digits as letters: the NORMAL style drops digits (they are tone marks to it), which
# turned 𠇔 (U+201D4) into "?d" and 𡘙 (U+21619) into "?", so that different characters
# without a reading shared a key.
_HEX_DIGITS_AS_LETTERS = str.maketrans("0123456789", "ghijklmnop")


def unread_token(char: str) -> str:
    """The key token of a character pypinyin cannot read: "?" and its code point, spelled in
    letters so that it survives the pinyin style and stays distinct per character."""
    return "?" + f"{ord(char):x}".translate(_HEX_DIGITS_AS_LETTERS)


@lru_cache(maxsize=1 << 17)
def name_key(name: str) -> str:
    """The blocking key for duplicate detection: pinyin letters only, lower case.

    Homophone characters (张伟/章伟) and variant forms share a key.
    """
    return "".join(ch for ch in name_pinyin(name).lower() if ch.isalnum() or ch == "?")


def homophones(chars: Iterable[str]) -> dict[str, list[str]]:
    """Each of ``chars`` → the others among them read alike (toneless pinyin: 涵/寒/含),
    for characters that have any."""
    by_reading: dict[str, list[str]] = {}
    for char in dict.fromkeys(chars):
        by_reading.setdefault(lazy_pinyin(char, style=Style.NORMAL)[0], []).append(char)
    return {
        char: [other for other in group if other != char]
        for group in by_reading.values()
        if len(group) > 1
        for char in group
    }

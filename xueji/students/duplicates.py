"""The online duplicate check (重复学籍) run before a record is created.

First the exact ID number, anywhere in the registry and in any state; then candidates
with the same birth date and sex whose name is similar in characters or in pinyin, or who
share a guardian's ID. Each candidate carries its reasons. Pure scoring lives in
``score_name``; the queries are blocked on indexed columns.
"""

from dataclasses import dataclass, field
from datetime import date

from django.conf import settings
from django.utils.translation import gettext as _
from rapidfuzz import fuzz

from . import identity
from .models import Guardian, Student


@dataclass
class Candidate:
    student_id: int
    number_masked: str  # the candidate may sit outside the clerk's scope
    name: str
    birth_date: date
    sex: str
    school_name: str
    state: str
    score: int
    reasons: list[str] = field(default_factory=list)


def score_name(name_a: str, key_a: str, name_b: str, key_b: str) -> tuple[int, list[str]]:
    """Similarity 0–100 of two names and why, in characters and in pinyin."""
    reasons = []
    if name_a == name_b:
        return 100, [_("姓名相同")]
    char_score = int(fuzz.ratio(name_a, name_b))
    key_score = int(fuzz.ratio(key_a, key_b)) if key_a and key_b else 0
    if key_a and key_a == key_b:
        reasons.append(_("姓名拼音相同（同音字）"))
        key_score = 100
    elif key_score >= 90:
        reasons.append(_("姓名拼音相近（%(score)d）") % {"score": key_score})
    if char_score >= 50 and not reasons:
        reasons.append(_("姓名字形相近（%(score)d）") % {"score": char_score})
    return max(char_score, key_score), reasons


def exact_match(id_type: str, id_number: str) -> Student | None:
    key = identity.id_key(id_type, id_number) if id_number else None
    if key is None:
        return None
    return Student.objects.select_related("record", "record__school").filter(id_key=key).first()


def candidates(
    *,
    name: str,
    name_key: str,
    sex: str,
    birth_date: date,
    guardian_numbers: list[tuple[str, str]] = (),  # type: ignore[assignment]
    exclude_ids: set[int] | None = None,
    limit: int = 10,
) -> list[Candidate]:
    threshold = settings.XUEJI["DUPLICATE_NAME_SCORE"]
    exclude_ids = exclude_ids or set()
    found: dict[int, Candidate] = {}
    pool = Student.objects.filter(birth_date=birth_date, sex=sex).select_related("record__school")
    for other in pool.only(
        "id",
        "number",
        "name",
        "name_key",
        "birth_date",
        "sex",
        "record__state",
        "record__school__name",
    )[:5000]:
        if other.pk in exclude_ids:
            continue
        score, reasons = score_name(name, name_key, other.name, other.name_key)
        if score >= threshold:
            found[other.pk] = _candidate(other, score, [_("出生日期、性别相同"), *reasons])
    guardian_keys = [identity.id_key(t, n) for t, n in guardian_numbers if n]
    if guardian_keys:
        shared = Guardian.objects.filter(id_key__in=[k for k in guardian_keys if k]).values_list(
            "student_id", flat=True
        )
        for other in Student.objects.filter(pk__in=list(shared)[:200]).select_related(
            "record__school"
        ):
            if other.pk in exclude_ids:
                continue
            score, reasons = score_name(name, name_key, other.name, other.name_key)
            if score >= threshold - 15 or other.birth_date == birth_date:
                entry = found.get(other.pk) or _candidate(other, score, reasons)
                entry.reasons.append(_("监护人身份证件号相同"))
                entry.score = max(entry.score, score)
                found[other.pk] = entry
    return sorted(found.values(), key=lambda c: -c.score)[:limit]


def _candidate(other: Student, score: int, reasons: list[str]) -> Candidate:
    record = getattr(other, "record", None)
    return Candidate(
        student_id=other.pk,
        number_masked=other.number_masked,
        name=other.name,
        birth_date=other.birth_date,
        sex=other.sex,
        school_name=record.school.name if record else "",
        state=record.state if record else "",
        score=score,
        reasons=reasons,
    )

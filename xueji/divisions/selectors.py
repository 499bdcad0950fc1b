"""Reads of the division tree and the code tables (reference data: no scope)."""

from functools import lru_cache

from .models import CodeItem, Division, DivisionLevel
from .refdata import GROUPING_NAMES


def level_of_code(code: str) -> int:
    """GB/T 2260: 'pp0000' is a province, 'ppcc00' a prefecture, anything else a county."""
    if code.endswith("0000"):
        return DivisionLevel.PROVINCE
    if code.endswith("00"):
        return DivisionLevel.CITY
    return DivisionLevel.COUNTY


def prefix_of_code(code: str) -> str:
    return code[: {1: 2, 2: 4, 3: 6}[level_of_code(code)]]


def division_current(code: str) -> Division | None:
    return Division.objects.filter(code=code, valid_to__isnull=True).first()


def division_path(code: str) -> list[Division]:
    """Province → city → county rows (current versions) leading to ``code``."""
    wanted = [code[:2] + "0000", code[:4] + "00", code]
    rows = {d.code: d for d in Division.objects.filter(code__in=set(wanted), valid_to__isnull=True)}
    return [rows[c] for c in dict.fromkeys(wanted) if c in rows]


def division_children(code: str | None) -> list[Division]:
    qs = Division.objects.filter(valid_to__isnull=True)
    if not code:
        return list(qs.filter(level=DivisionLevel.PROVINCE))
    return list(qs.filter(parent_code=code))


@lru_cache(maxsize=1)
def _names_snapshot() -> dict[str, str]:
    return dict(Division.objects.filter(valid_to__isnull=True).values_list("code", "name"))


def division_names() -> dict[str, str]:
    """Code → name of every current division (cached for the process)."""
    return _names_snapshot()


def division_full_name(code: str) -> str:
    """ "广东省广州市天河区": names along the path, grouping rows (市辖区 …) left out."""
    names = division_names()
    parts = []
    for part in dict.fromkeys([code[:2] + "0000", code[:4] + "00", code]):
        name = names.get(part)
        if name and (name not in GROUPING_NAMES or part == code):
            parts.append(name)
    return "".join(parts) or code


def code_items(table: str) -> list[CodeItem]:
    return list(CodeItem.objects.filter(table=table, active=True))


def code_names(table: str) -> dict[str, str]:
    return dict(CodeItem.objects.filter(table=table).values_list("code", "name"))


def current_county_codes() -> frozenset[str]:
    return frozenset(
        Division.objects.filter(valid_to__isnull=True, level=DivisionLevel.COUNTY).values_list(
            "code", flat=True
        )
    )


def clear_caches() -> None:
    _names_snapshot.cache_clear()

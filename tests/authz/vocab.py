"""The authorization matrix's vocabulary, shared by the matrix and the per-app policy
modules in this package (each defines ``POLICY`` and, optionally, ``setup(world) -> dict``
returning extra placeholders for its samples, e.g. ``{"transfer": 12}``)."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

World = Any

# ----------------------------------------------------------------- the policy vocabulary

PUBLIC = "public"  # no sign-in at all
SIGNED_IN = "signed_in"  # any account that belongs to a unit

# How a route is scoped once the role allows it.
NONE = "none"  # reference data or a form: the same for every unit
OBJECT = "object"  # one row: outside the actor's scope → 404, like a missing row
LIST = "list"  # rows filtered to the actor's scope: 200, never another unit's rows
TARGET = "target"  # a write aimed at a school: school outside the scope → 404
AREA = "area"  # a write creating something in an area: area outside the scope → 422
UNIT = "unit"  # rows of the actor's own unit only (import jobs): another unit's → 404
UNIT_LIST = "unit_list"  # the actor's own unit's rows, filtered: 200
ROWS = "rows"  # accepted for any unit; rows outside the scope are refused inside the job

AUTHORITY = frozenset({"province", "national"})


@dataclass(frozen=True)
class Sample:
    """One concrete request; ``{student}``, ``{school}`` and ``{job}`` are filled in."""

    method: str
    path: str
    body: Callable[[World], dict] | None = None
    multipart: bool = False
    ok: int = 200
    # The sample's own scope when it differs from the route's (a GET of a write form).
    scope: str | None = None


@dataclass(frozen=True)
class Policy:
    path: str  # the route as Django spells it: a changed path must be re-declared
    access: str | tuple[str, ...]  # PUBLIC, SIGNED_IN, a Permission, or any of several
    scope: str = NONE
    levels: frozenset[str] | None = None  # unit kinds allowed; None: every kind
    methods: tuple[str, ...] = ("GET",)
    sample: Sample | None = None
    # The actors whose answer may hold a full student number or ID number (issue 10): the
    # clerk of the student's school on its detail, anyone on a reveal (reason, audited).
    # Every other answer, lists above all, shows them masked.
    full_number: tuple[str, ...] = ()

"""The signed-in guardian as services see an actor: no account and no unit.

``pk`` is None and ``username`` is ``guardian:<masked student number>``, so the audit trail
and the change engine (``filed_by_username``, ``uploaded_by``) name who acted without holding
the full number (the guardian's id is the audit event's object); ``is_authenticated``
is False, so no permission check of the staff side ever passes for a guardian.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class GuardianActor:
    student_id: int
    guardian_id: int
    number_masked: str
    pk: None = None
    unit_id: None = None
    is_authenticated: bool = False
    is_active: bool = False

    @property
    def username(self) -> str:
        return f"guardian:{self.number_masked}"

"""Routes of the audit admin (xueji/audit/trail.py: 审计日志 pages, export and API).

Only ``Permission.AUDIT_VIEW`` (the audit admin) opens them: every work role of the matrix
is refused with 403. Their scope (the trail of the admin's subtree, ALL of it and nothing
outside; a student of the subtree for "who has looked at this child") is tested both ways
in xueji/audit/tests/test_trail.py with audit admins at each level.
"""

from tests.authz.vocab import LIST, OBJECT, Policy, Sample
from xueji.accounts.rules import Permission

POLICY: dict[str, Policy] = {
    "audit:trail": Policy(
        "audit/", Permission.AUDIT_VIEW, LIST, sample=Sample("GET", "/audit/?actor=clerk")
    ),
    "audit:student": Policy(
        "audit/students/<int:student_id>/",
        Permission.AUDIT_VIEW,
        OBJECT,
        sample=Sample("GET", "/audit/students/{student}/"),
    ),
    "audit:export_csv": Policy(
        "audit/export.csv", Permission.AUDIT_VIEW, LIST, sample=Sample("GET", "/audit/export.csv")
    ),
    "audit:export_xlsx": Policy(
        "audit/export.xlsx",
        Permission.AUDIT_VIEW,
        LIST,
        sample=Sample("GET", "/audit/export.xlsx"),
    ),
    "api:list_audit_events": Policy(
        "api/audit/events",
        Permission.AUDIT_VIEW,
        LIST,
        sample=Sample("GET", "/api/audit/events?actor=clerk"),
    ),
    # The same search with the student term in the body (never a number in a URL).
    "api:search_audit_events": Policy(
        "api/audit/events/search",
        Permission.AUDIT_VIEW,
        LIST,
        methods=("POST",),
        sample=Sample("POST", "/api/audit/events/search", lambda w: {"actor": "clerk"}),
    ),
    "api:student_audit_events": Policy(
        "api/audit/students/<student_id>/events",
        Permission.AUDIT_VIEW,
        OBJECT,
        sample=Sample("GET", "/api/audit/students/{student}/events"),
    ),
}

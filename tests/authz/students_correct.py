"""Routes of the correction of basic information (``student_correct``): the page
students/<id>/correct/ and PATCH /api/students/{id}.

The clerks of the school holding the record (``student.register``); reviewers read but do
not correct (403); out of scope 404.
"""

from tests.authz.vocab import OBJECT, Policy, Sample
from xueji.accounts.rules import Permission

V = Permission

POLICY: dict[str, Policy] = {
    "students:correct": Policy(
        "students/<int:student_id>/correct/",
        V.STUDENT_REGISTER,
        OBJECT,
        methods=("GET", "POST"),
        sample=Sample("GET", "/students/{student}/correct/"),
    ),
    "api:correct_student": Policy(
        "api/students/<int:student_id>",
        V.STUDENT_REGISTER,
        OBJECT,
        methods=("PATCH",),
        sample=Sample(
            "PATCH",
            "/api/students/{student}",
            lambda w: {"changes": {"former_name": "矩阵曾用"}, "reason": "矩阵：补录曾用名"},
        ),
        full_number=("clerk_in",),  # the corrected student's detail
    ),
}

"""Routes of the guardian's online application (xueji/portal).

The guardian's pages need no account: in the matrix's vocabulary they are ``PUBLIC``.
Behind the sign-in page they need the guardian's own session (student number, guardian ID
number, one-time code), which no matrix actor has: without it every page sends the
visitor to the portal's sign-in page (302). What a signed-in guardian may see — its own
student's requests only, another's answers 404 — is tested in xueji/portal/tests.

The outbox of the embedded sender: with ``DEBUG`` anyone (development); otherwise a
national security administrator only (none of the matrix's actors: 403; anonymous: the
staff sign-in page).
"""

from tests.authz.vocab import NONE, PUBLIC, Policy, Sample
from xueji.accounts.rules import Permission

NATIONAL = frozenset({"national"})

POLICY: dict[str, Policy] = {
    "portal:signin": Policy(
        "portal/", PUBLIC, methods=("GET", "POST"), sample=Sample("GET", "/portal/")
    ),
    # No code asked for yet: back to the first step.
    "portal:code": Policy(
        "portal/code/",
        PUBLIC,
        methods=("GET", "POST"),
        sample=Sample("GET", "/portal/code/", ok=302),
    ),
    "portal:signout": Policy(
        "portal/signout/",
        PUBLIC,
        methods=("POST",),
        sample=Sample("POST", "/portal/signout/", ok=302),
    ),
    "portal:home": Policy("portal/home/", PUBLIC, sample=Sample("GET", "/portal/home/", ok=302)),
    "portal:apply": Policy(
        "portal/apply/",
        PUBLIC,
        methods=("GET", "POST"),
        sample=Sample("GET", "/portal/apply/", ok=302),
    ),
    "portal:destination": Policy(
        "portal/apply/destination/",
        PUBLIC,
        sample=Sample("GET", "/portal/apply/destination/?province=510000", ok=302),
    ),
    "portal:request": Policy(
        "portal/requests/<int:request_id>/",
        PUBLIC,
        sample=Sample("GET", "/portal/requests/1/", ok=302),
    ),
    "portal:withdraw": Policy(
        "portal/requests/<int:request_id>/withdraw/",
        PUBLIC,
        methods=("POST",),
        sample=Sample("POST", "/portal/requests/1/withdraw/", ok=302),
    ),
    "portal:material_add": Policy(
        "portal/requests/<int:request_id>/materials/",
        PUBLIC,
        methods=("POST",),
        sample=Sample("POST", "/portal/requests/1/materials/", ok=302),
    ),
    "portal:outbox": Policy(
        "portal/outbox/",
        Permission.SECURITY_MANAGE,
        NONE,
        levels=NATIONAL,
        sample=Sample("GET", "/portal/outbox/"),
    ),
}

"""Routes of the trusted digital identity (xueji/credentials).

The published keys, the status lists and the verifier page are public by design: a
relying system checks credentials offline against them, and none lists a student (a
status list is a bit per credential, nothing else). The verification endpoint needs a
relying party's own token (``rp_…``), which no matrix actor has: 401 for everybody here;
a registered party's allowed and refused answers are in xueji/credentials/tests.
The holder's pages sit behind the guardian's portal sign-in: without it, the portal's
sign-in page (302).
"""

from tests.authz.vocab import PUBLIC, Policy, Sample

POLICY: dict[str, Policy] = {
    "credentials:jwks": Policy(
        ".well-known/jwks.json", PUBLIC, sample=Sample("GET", "/.well-known/jwks.json")
    ),
    "credentials:issuer_metadata": Policy(
        ".well-known/jwt-vc-issuer", PUBLIC, sample=Sample("GET", "/.well-known/jwt-vc-issuer")
    ),
    # No list 999 in the matrix's world.
    "credentials:status_list": Policy(
        "credentials/status/<int:number>",
        PUBLIC,
        sample=Sample("GET", "/credentials/status/999", ok=404),
    ),
    "credentials:verify": Policy(
        "credentials/verify",
        PUBLIC,
        methods=("POST",),
        sample=Sample("POST", "/credentials/verify", lambda w: {}, ok=401),
    ),
    "credentials:verifier": Policy(
        "credentials/verifier/",
        PUBLIC,
        methods=("GET", "POST"),
        sample=Sample("GET", "/credentials/verifier/"),
    ),
    "wallet:home": Policy(
        "portal/credential/", PUBLIC, sample=Sample("GET", "/portal/credential/", ok=302)
    ),
    "wallet:issue": Policy(
        "portal/credential/issue/",
        PUBLIC,
        methods=("POST",),
        sample=Sample("POST", "/portal/credential/issue/", ok=302),
    ),
    "wallet:present": Policy(
        "portal/credential/present/",
        PUBLIC,
        methods=("POST",),
        sample=Sample("POST", "/portal/credential/present/", ok=302),
    ),
    "wallet:file": Policy(
        "portal/credential/file/", PUBLIC, sample=Sample("GET", "/portal/credential/file/", ok=302)
    ),
}

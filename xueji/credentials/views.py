"""Public pages of the digital identity: the published keys (JWKS and the SD-JWT VC issuer
metadata), the status lists, the relying parties' verification endpoint and the verifier
page. None of them lists anything: each answers about one key set, one list, or one
presented credential."""

import json
import secrets

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from xueji.errors import DomainError

from .claims import claim_label, claim_value
from .errors import reason_text
from .keys import key_ring
from .rules import DISCLOSABLE
from .services import (
    config,
    local_verifier,
    presentation_verify,
    relying_party_authenticate,
    status_list_token,
)

PAGE_AUDIENCE_SUFFIX = "/credentials/verifier/"


@require_GET
def jwks_view(request: HttpRequest) -> JsonResponse:
    response = JsonResponse(key_ring().jwks())
    response["Cache-Control"] = "public, max-age=3600"
    return response


@require_GET
def issuer_metadata_view(request: HttpRequest) -> JsonResponse:
    """SD-JWT VC issuer metadata (``/.well-known/jwt-vc-issuer``): the issuer and its keys."""
    response = JsonResponse({"issuer": config()["ISSUER"], "jwks": key_ring().jwks()})
    response["Cache-Control"] = "public, max-age=3600"
    return response


@require_GET
def status_list_view(request: HttpRequest, number: int) -> HttpResponse:
    try:
        token = status_list_token(number)
    except DomainError:
        return JsonResponse({"code": "not_found"}, status=404)
    response = HttpResponse(token, content_type="application/statuslist+jwt")
    response["Cache-Control"] = f"public, max-age={int(config()['STATUS_LIST_TTL'])}"
    return response


def _bearer(request: HttpRequest) -> str:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header.startswith("Bearer ") else ""


@csrf_exempt
@require_POST
def verify_endpoint(request: HttpRequest) -> JsonResponse:
    """``POST /credentials/verify`` with ``Authorization: Bearer rp_…`` and a JSON body
    ``{"presentation": "...", "nonce": "..."}``: the verdict on that one presentation,
    bound to the party's audience and limited to the claims it is registered for."""
    party = relying_party_authenticate(_bearer(request))
    if party is None:
        return JsonResponse(
            {"code": "auth.party_refused", "message": _("依赖方令牌无效。")}, status=401
        )
    try:
        body = json.loads(request.body or b"{}")
        presentation, nonce = body["presentation"], body["nonce"]
        if not isinstance(presentation, str) or not isinstance(nonce, str) or not nonce:
            raise TypeError
    except (ValueError, KeyError, TypeError):
        return JsonResponse(
            {
                "code": "validation_failed",
                "message": _("请提交 presentation 与 nonce（JSON 字符串）。"),
            },
            status=422,
        )
    try:
        verdict = presentation_verify(party=party, presentation=presentation[:20_000], nonce=nonce)
    except DomainError as error:
        return JsonResponse(error.as_dict(), status=error.http_status)
    answer = verdict.as_dict()
    answer["message"] = reason_text(verdict.reason) if verdict.reason else _("凭证有效")
    return JsonResponse(answer, json_dumps_params={"ensure_ascii": False})


def page_audience(request: HttpRequest) -> str:
    return config()["ISSUER"].rstrip("/") + PAGE_AUDIENCE_SUFFIX


@never_cache
@require_http_methods(["GET", "POST"])
def verifier_page(request: HttpRequest) -> HttpResponse:
    """A verifier's page: shows a nonce and the page's audience for the holder, then reads
    the presentation (the QR code's text, scanned or pasted) and shows the verdict. It keeps
    the nonce in the session: a presentation made for another nonce is refused."""
    audience = page_audience(request)
    verdict = None
    text = ""
    if request.method == "POST":
        text = (request.POST.get("presentation") or "").strip()[:20_000]
        nonce = request.session.get("credential_verifier_nonce", "")
        verdict = local_verifier().verify(text, nonce=nonce, audience=audience)
    nonce = secrets.token_urlsafe(12)
    request.session["credential_verifier_nonce"] = nonce
    context = {
        "nonce": nonce,
        "audience": audience,
        "verdict": verdict,
        "reason": reason_text(verdict.reason) if verdict and verdict.reason else "",
        "rows": _claim_rows(verdict.claims) if verdict and verdict.valid else [],
    }
    return render(request, "credentials/verifier.html", context)


def _claim_rows(claims: dict) -> list[tuple[str, str]]:
    rows = []
    for path in DISCLOSABLE:
        head, _dot, tail = path.partition(".")
        value = claims.get(head)
        if tail and isinstance(value, dict):
            value = value.get(tail)
        if value is not None and not isinstance(value, dict):
            rows.append((claim_label(path), claim_value(path, value)))
    return rows

"""The only writers of credentials, status lists and relying parties.

Issuance signs an SD-JWT VC of the record as it stands; every later change of the record
(``credentials_follow_record``, called where a change is completed) re-issues, suspends,
reinstates or revokes it; bulk paths (graduation batches, ``credentials_issue_many``) are
set-based. Each write records its audit event in the same transaction.
"""

import hashlib
import json
import secrets
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from xueji import clock, fieldcrypto
from xueji.audit.events import AuditAction, ObjectType
from xueji.audit.services import audit_record
from xueji.enrolment.models import StatusRecord
from xueji.enrolment.rules import StatusState
from xueji.errors import Conflict, FieldError, NotFound, ValidationFailed
from xueji.students.models import Student

from . import sdjwt
from .keys import SigningKey, key_from_jwk, key_ring, new_private_jwk, thumbprint
from .models import Credential, CredentialState, RelyingParty, StatusList, VerificationWindow
from .rules import (
    DISCLOSABLE,
    STATUS_BITS,
    STATUS_LIST_TYP,
    EncodingError,
    EnrolmentFacts,
    TokenStatus,
    credential_claims,
    jwt_unverified,
    split,
    status_list_encode,
    status_list_pack,
)

HOLDER_KEY_CONTEXT = "credentials.holder_key"
# Record states a credential of enrolment is issued in, and what the others do to one.
ISSUABLE = frozenset({StatusState.ENROLLED, StatusState.DEFERRED, StatusState.ABROAD})
SUSPENDING = frozenset({StatusState.SUSPENDED, StatusState.DROPPED_OUT})
LIVE = (CredentialState.VALID, CredentialState.SUSPENDED)


def config() -> dict[str, Any]:
    return settings.XUEJI_CREDENTIAL


def status_uri(number: int) -> str:
    return f"{config()['ISSUER'].rstrip('/')}/credentials/status/{number}"


def status_number(uri: str) -> int | None:
    """The list number of one of this issuer's status-list URIs (None for any other)."""
    prefix = f"{config()['ISSUER'].rstrip('/')}/credentials/status/"
    tail = uri[len(prefix) :] if uri.startswith(prefix) else ""
    return int(tail) if tail.isdigit() and len(tail) < 10 else None


@dataclass(frozen=True)
class Issued:
    credential: Credential
    text: str  # the SD-JWT VC with every disclosure


# ----------------------------------------------------------------- facts and signing


def _facts(record: StatusRecord, number: str, name: str) -> EnrolmentFacts:
    return EnrolmentFacts(
        student_number=number,
        name=name,
        school_code=record.school.code,
        school_name=record.school.name,
        stage=record.stage,
        grade=record.grade,
        enrolment_status=record.state,
    )


def _sign(
    facts: EnrolmentFacts,
    *,
    key: SigningKey,
    holder_jwk: dict,
    number: int,
    index: int,
    now: datetime,
) -> tuple[str, datetime]:
    issued_at = int(now.timestamp())
    expires = now + timedelta(days=int(config()["VALID_DAYS"]))
    claims = credential_claims(
        facts,
        issuer=config()["ISSUER"],
        vct=config()["VCT"],
        issued_at=issued_at,
        expires_at=int(expires.timestamp()),
        holder_jwk=holder_jwk,
        status_uri=status_uri(number),
        status_index=index,
        issue_date=timezone.localdate(now).isoformat(),
    )
    # The 国密 suite hashes its disclosures with SM3 too.
    sd_alg = "sm3" if key.alg == "SM2" else "sha-256"
    return sdjwt.issue(claims, key=key, sd_alg=sd_alg), expires


def _allocate(count: int) -> list[tuple[StatusList, int, int]]:
    """Slots for ``count`` credentials: (list, first index, how many) per list used, the
    lists locked and advanced in the caller's transaction."""
    size = int(config()["STATUS_LIST_SIZE"])
    out: list[tuple[StatusList, int, int]] = []
    while count > 0:
        current = (
            StatusList.objects.select_for_update()
            .filter(next_index__lt=F("size"))
            .order_by("number")
            .first()
        )
        if current is None:
            last = StatusList.objects.order_by("-number").values_list("number", flat=True).first()
            current = StatusList.objects.create(number=(last or 0) + 1, size=size)
        take = min(count, current.size - current.next_index)
        out.append((current, current.next_index, take))
        current.next_index += take
        current.save(update_fields=["next_index"])
        count -= take
    return out


def _holder_key(holder_jwk: dict | None) -> tuple[dict, str]:
    """(public JWK, sealed private key or ""): a holder's own key, or a custodial one."""
    if holder_jwk is not None:
        try:
            holder = key_from_jwk(holder_jwk)
        except (KeyError, ValueError, RuntimeError):
            raise ValidationFailed(
                [FieldError("holder_jwk", "holder_key.invalid", _("持有人公钥无效"))]
            ) from None
        return {k: holder.public_jwk[k] for k in ("kty", "crv", "x", "y")}, ""
    private = new_private_jwk("ES256")
    public = {k: private[k] for k in ("kty", "crv", "x", "y")}
    return public, fieldcrypto.encrypt(json.dumps(private), context=HOLDER_KEY_CONTEXT)


def holder_private_jwk(credential: Credential) -> dict | None:
    """The portal's custodial key of a credential (None when the holder brought its own)."""
    if not credential.holder_key_sealed:
        return None
    return json.loads(fieldcrypto.decrypt(credential.holder_key_sealed, context=HOLDER_KEY_CONTEXT))


def holder_signing_key(credential: Credential) -> SigningKey | None:
    private = holder_private_jwk(credential)
    return key_from_jwk(private) if private is not None else None


# ----------------------------------------------------------------- issuance


def credential_issue(
    *,
    actor: Any,
    student_id: int,
    holder_jwk: dict | None = None,
    now: datetime | None = None,
    reason: str = "issue",
) -> Issued:
    """Issue a credential of the student's record as it stands; earlier live credentials of
    the student are revoked (replaced). Without ``holder_jwk`` the registry keeps a
    custodial holder key for the portal. Refuses a record not in an issuable state."""
    now = now or clock.now()
    with transaction.atomic():
        record = (
            StatusRecord.objects.select_for_update(of=("self",))
            .select_related("school", "student")
            .filter(pk=student_id)
            .first()
        )
        if record is None:
            raise NotFound("student")
        issued = _issue_locked(
            actor=actor, record=record, holder_jwk=holder_jwk, sealed=None, now=now, reason=reason
        )
    return issued


def _issue_locked(
    *,
    actor: Any,
    record: StatusRecord,
    holder_jwk: dict | None,
    sealed: str | None,
    now: datetime,
    reason: str,
) -> Issued:
    if record.state not in ISSUABLE:
        raise Conflict(
            "credential.not_issuable",
            _("学籍状态为“%(state)s”，不能签发在籍身份凭证。")
            % {"state": record.get_state_display()},
        )
    if sealed is None:
        public_jwk, sealed = _holder_key(holder_jwk)
    else:
        public_jwk = holder_jwk or {}
    number, name = Student.objects.filter(pk=record.pk).values_list("number", "name").get()
    facts = _facts(record, number, name)
    key = key_ring().active
    ((status_list, index, _n),) = _allocate(1)
    text, expires = _sign(
        facts, key=key, holder_jwk=public_jwk, number=status_list.number, index=index, now=now
    )
    credential = Credential.objects.create(
        jti=uuid.uuid4().hex,
        student_id=record.pk,
        school_id=record.school_id,
        status_list=status_list,
        status_index=index,
        kid=key.kid,
        alg=key.alg,
        holder_thumbprint=thumbprint(public_jwk),
        holder_jwk=public_jwk,
        holder_key_sealed=sealed,
        facts=asdict(facts),
        issued=text,
        issued_at=now,
        expires_at=expires,
    )
    replaced = list(
        Credential.objects.filter(student_id=record.pk, state__in=LIVE)
        .exclude(pk=credential.pk)
        .order_by("pk")
    )
    for old in replaced:
        _set_state(
            actor=actor,
            credential=old,
            state=CredentialState.REVOKED,
            reason="replaced",
            now=now,
            replaced_by=credential,
        )
    audit_record(
        actor=actor,
        action=AuditAction.CREDENTIAL_ISSUE,
        object_type=ObjectType.CREDENTIAL,
        object_id=credential.pk,
        summary=f"签发学生身份凭证 {number}（{record.school.name}）",
        detail={
            "student_id": record.pk,
            "jti": credential.jti,
            "kid": key.kid,
            "alg": key.alg,
            "status_list": status_list.number,
            "status_index": index,
            "reason": reason,
            "replaces": [old.pk for old in replaced],
        },
    )
    return Issued(credential, text)


def credentials_issue_many(
    *, actor: Any, student_ids: list[int], holder_jwk: dict, now: datetime | None = None
) -> int:
    """Issue credentials to many students at once, bound to one holder key (an operator's
    wallet or a benchmark): one query for the facts, one slot allocation, bulk inserts; the
    students' earlier credentials are revoked set-based. Students whose record is not in an
    issuable state are skipped. Returns the number issued."""
    now = now or clock.now()
    key = key_ring().active
    public_jwk, _sealed = _holder_key(holder_jwk)
    print_ = thumbprint(public_jwk)
    with transaction.atomic():
        rows = list(
            StatusRecord.objects.filter(pk__in=student_ids, state__in=ISSUABLE)
            .order_by("pk")
            .values_list(
                "pk",
                "student__number",
                "student__name",
                "school_id",
                "school__code",
                "school__name",
                "stage",
                "grade",
                "state",
            )
        )
        if not rows:
            return 0
        Credential.objects.filter(student_id__in=[r[0] for r in rows], state__in=LIVE).update(
            state=CredentialState.REVOKED, state_changed_at=now, state_reason="replaced"
        )
        StatusList.objects.filter(pk__in=_lists_changed_at(now)).update(dirty=True)
        slots = [
            (status_list, index)
            for status_list, first, count in _allocate(len(rows))
            for index in range(first, first + count)
        ]
        batch: list[Credential] = []
        for (pk, number, name, school_id, code, school_name, stage, grade, state), (
            status_list,
            index,
        ) in zip(rows, slots, strict=True):
            facts = EnrolmentFacts(number, name, code, school_name, stage, grade, state)
            text, expires = _sign(
                facts,
                key=key,
                holder_jwk=public_jwk,
                number=status_list.number,
                index=index,
                now=now,
            )
            batch.append(
                Credential(
                    jti=uuid.uuid4().hex,
                    student_id=pk,
                    school_id=school_id,
                    status_list=status_list,
                    status_index=index,
                    kid=key.kid,
                    alg=key.alg,
                    holder_thumbprint=print_,
                    holder_jwk=public_jwk,
                    facts=asdict(facts),
                    issued=text,
                    issued_at=now,
                    expires_at=expires,
                )
            )
            if len(batch) >= 5000:
                Credential.objects.bulk_create(batch)
                batch = []
        Credential.objects.bulk_create(batch)
        audit_record(
            actor=actor,
            action=AuditAction.CREDENTIAL_ISSUE,
            object_type=ObjectType.CREDENTIAL,
            summary=f"批量签发学生身份凭证：{len(rows)} 份",
            detail={"count": len(rows), "kid": key.kid, "holder": print_},
        )
    return len(rows)


def _lists_changed_at(now: datetime):
    return (
        Credential.objects.filter(state_changed_at=now)
        .values_list("status_list_id", flat=True)
        .distinct()
    )


# ----------------------------------------------------------------- state changes


def _set_state(
    *,
    actor: Any,
    credential: Credential,
    state: str,
    reason: str,
    now: datetime,
    replaced_by: Credential | None = None,
) -> None:
    action = {
        CredentialState.REVOKED: AuditAction.CREDENTIAL_REVOKE,
        CredentialState.SUSPENDED: AuditAction.CREDENTIAL_SUSPEND,
        CredentialState.VALID: AuditAction.CREDENTIAL_REINSTATE,
    }[CredentialState(state)]
    credential.state = state
    credential.state_changed_at = now
    credential.state_reason = reason
    fields = ["state", "state_changed_at", "state_reason"]
    if replaced_by is not None:
        credential.replaced_by = replaced_by
        fields.append("replaced_by")
    credential.save(update_fields=fields)
    StatusList.objects.filter(pk=credential.status_list_id).update(dirty=True)
    _forget_on_commit(credential.status_list_id)
    audit_record(
        actor=actor,
        action=action,
        object_type=ObjectType.CREDENTIAL,
        object_id=credential.pk,
        summary=f"{action.label}（{reason}）",
        detail={"student_id": credential.student_id, "jti": credential.jti, "reason": reason},
    )


def credential_revoke(*, actor: Any, credential_id: int, reason: str) -> Credential:
    with transaction.atomic():
        credential = Credential.objects.select_for_update().filter(pk=credential_id).first()
        if credential is None:
            raise NotFound("credential")
        if credential.state != CredentialState.REVOKED:
            _set_state(
                actor=actor,
                credential=credential,
                state=CredentialState.REVOKED,
                reason=reason,
                now=clock.now(),
            )
    return credential


def credentials_follow_record(
    *, actor: Any, record: StatusRecord, change_type: str = "", now: datetime | None = None
) -> None:
    """Bring the student's live credentials in line with the record just changed (inside
    the change's transaction): an ended record (graduated, left, withdrawn, expelled,
    cancelled, …) revokes them; a suspension or dropout suspends them; otherwise a change
    of what they state (a transfer's new school, a new grade) re-issues to the same holder
    and revokes the old, and a resumption reinstates a suspended one."""
    now = now or clock.now()
    live = list(
        Credential.objects.select_for_update()
        .filter(student_id=record.pk, state__in=LIVE)
        .order_by("pk")
    )
    if not live:
        return
    reason = change_type or record.state
    if record.state in SUSPENDING:
        for credential in live:
            if credential.state == CredentialState.VALID:
                _set_state(
                    actor=actor,
                    credential=credential,
                    state=CredentialState.SUSPENDED,
                    reason=reason,
                    now=now,
                )
        return
    if record.state not in ISSUABLE:
        for credential in live:
            _set_state(
                actor=actor,
                credential=credential,
                state=CredentialState.REVOKED,
                reason=reason,
                now=now,
            )
        return
    # Read afresh: the caller's record may hold a student loaded before a correction.
    number, name = Student.objects.filter(pk=record.pk).values_list("number", "name").get()
    facts = asdict(_facts(record, number, name))
    newest = live[-1]
    if newest.facts == facts:
        for credential in live:
            if credential.state == CredentialState.SUSPENDED:
                _set_state(
                    actor=actor,
                    credential=credential,
                    state=CredentialState.VALID,
                    reason=reason,
                    now=now,
                )
        return
    # What it states has changed: a new credential for the same holder replaces them.
    _issue_locked(
        actor=actor,
        record=record,
        holder_jwk=newest.holder_jwk,
        sealed=newest.holder_key_sealed,
        now=now,
        reason=f"reissue:{reason}",
    )


def credentials_revoke_where(
    *, actor: Any, record_sql: str, params: list, reason: str, now: datetime | None = None
) -> int:
    """Set-based revocation of the live credentials of the students whose record ``r``
    matches ``record_sql`` (a graduation batch's chunk); one audit event. Returns how many."""
    now = now or clock.now()
    stamp = connection.ops.adapt_datetimefield_value(now)
    sql = (
        "UPDATE credentials_credential SET state = %s, state_changed_at = %s,"
        " state_reason = %s WHERE state IN (%s, %s) AND student_id IN ("
        f" SELECT r.student_id FROM enrolment_statusrecord r WHERE {record_sql})"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [CredentialState.REVOKED, stamp, reason, *LIVE, *params],
        )
        count = cursor.rowcount
    if count:
        lists = list(_lists_changed_at(now))
        StatusList.objects.filter(pk__in=lists).update(dirty=True)
        for list_id in lists:
            _forget_on_commit(list_id)
        audit_record(
            actor=actor,
            action=AuditAction.CREDENTIAL_REVOKE_BATCH,
            object_type=ObjectType.CREDENTIAL,
            summary=f"批量吊销学生身份凭证（{reason}）：{count} 份",
            detail={"count": count, "reason": reason},
        )
    return count


# ----------------------------------------------------------------- the status lists


def _forget_on_commit(list_id: int) -> None:
    def forget() -> None:
        number = StatusList.objects.filter(pk=list_id).values_list("number", flat=True).first()
        if number is not None:
            local_verifier().forget_status(status_uri(number))

    # Now (a later read in this transaction sees the change) and again once committed (a
    # concurrent read may have cached the list as it was before).
    forget()
    transaction.on_commit(forget)


def status_list_publish(number: int, *, now: datetime | None = None) -> str:
    """Re-sign list ``number`` from its credentials' states (one query of the non-valid
    ones) and store the token."""
    now = now or clock.now()
    with transaction.atomic():
        status_list = StatusList.objects.select_for_update().filter(number=number).first()
        if status_list is None:
            raise NotFound("status_list")
        marks = {
            index: TokenStatus.SUSPENDED
            if state == CredentialState.SUSPENDED
            else TokenStatus.INVALID
            for index, state in Credential.objects.filter(status_list=status_list)
            .exclude(state=CredentialState.VALID)
            .values_list("status_index", "state")
        }
        raw = status_list_pack(status_list.size, marks)
        issued_at = int(now.timestamp())
        ttl = int(config()["STATUS_LIST_TTL"])
        payload = {
            "sub": status_uri(number),
            "iat": issued_at,
            "exp": issued_at + 86_400,
            "ttl": ttl,
            "status_list": {"bits": STATUS_BITS, "lst": status_list_encode(raw)},
        }
        status_list.token = key_ring().active.sign_compact({"typ": STATUS_LIST_TYP}, payload)
        status_list.signed_at = now
        status_list.dirty = False
        status_list.save(update_fields=["token", "signed_at", "dirty"])
    return status_list.token


def status_list_token(number: int) -> str:
    """The current signed list: re-signed when a credential on it changed or the last
    token is half-way to its expiry."""
    row = StatusList.objects.filter(number=number).values("token", "signed_at", "dirty").first()
    if row is None:
        raise NotFound("status_list")
    stale = row["signed_at"] is None or clock.now() - row["signed_at"] > timedelta(hours=12)
    if row["dirty"] or stale or not row["token"]:
        return status_list_publish(number)
    return row["token"]


def _local_fetch(uri: str) -> str:
    number = status_number(uri)
    if number is None:
        raise LookupError(uri)
    return status_list_token(number)


_VERIFIER: dict[tuple, sdjwt.Verifier] = {}


def local_verifier() -> sdjwt.Verifier:
    """The registry's own verifier (its key ring, its status lists from the database),
    one per process and configuration."""
    ring = key_ring()
    key = (id(ring), config()["ISSUER"], config()["VCT"])
    verifier = _VERIFIER.get(key)
    if verifier is None:
        _VERIFIER.clear()
        verifier = sdjwt.Verifier(
            keys=sdjwt.RingSource(ring.keys),
            issuer=config()["ISSUER"],
            vct=config()["VCT"],
            status_fetcher=_local_fetch,
            kb_max_age=int(config()["KB_MAX_AGE"]),
            # The registry's clock, so that tests can move time.
            clock=lambda: clock.now().timestamp(),
            default_ttl=int(config()["STATUS_LIST_TTL"]),
        )
        _VERIFIER[key] = verifier
    return verifier


# ----------------------------------------------------------------- the holder (portal)


def credential_present(
    *, guardian: Any, credential: Credential, disclose: list[str], nonce: str, audience: str
) -> str:
    """A presentation of the guardian's credential made with its custodial key: only the
    chosen claims, bound to the verifier's nonce and audience. Audited (what was shown,
    to whom; never the nonce)."""
    if credential.student_id != guardian.student_id:
        raise NotFound("credential")
    holder = holder_signing_key(credential)
    if holder is None:
        raise Conflict("credential.own_wallet", _("该凭证由您自己的钱包持有，请在钱包中出示。"))
    unknown = sorted(set(disclose) - set(DISCLOSABLE))
    if unknown or not disclose:
        raise ValidationFailed(
            [FieldError("disclose", "disclose.invalid", _("请选择要出示的信息"))]
        )
    now = clock.now()
    text = sdjwt.present(
        credential.issued,
        disclose=disclose,
        holder_key=holder,
        nonce=nonce,
        audience=audience,
        now=int(now.timestamp()),
    )
    with transaction.atomic():
        audit_record(
            actor=guardian,
            action=AuditAction.CREDENTIAL_PRESENT,
            object_type=ObjectType.CREDENTIAL,
            object_id=credential.pk,
            summary=f"出示学生身份凭证给 {audience[:100]}",
            detail={"disclosed": sorted(disclose), "audience": audience[:255]},
        )
    return text


# ----------------------------------------------------------------- relying parties


def _token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def relying_party_register(
    *,
    actor: Any,
    name: str,
    purpose: str,
    audience: str,
    allowed_disclosures: list[str],
    rate_per_minute: int = 60,
) -> tuple[RelyingParty, str]:
    """Register a relying system; returns it and its token (shown once)."""
    errors = []
    if not name.strip():
        errors.append(FieldError("name", "party.name_required", _("请填写依赖方名称")))
    if not purpose.strip():
        errors.append(FieldError("purpose", "party.purpose_required", _("请填写核验用途")))
    if not audience.strip():
        errors.append(FieldError("audience", "party.audience_required", _("请填写受众标识")))
    unknown = sorted(set(allowed_disclosures) - set(DISCLOSABLE))
    if unknown:
        errors.append(
            FieldError(
                "allowed_disclosures",
                "party.unknown_claim",
                _("不可披露的信息项：%s") % "、".join(unknown),
            )
        )
    if rate_per_minute < 1:
        errors.append(FieldError("rate_per_minute", "party.rate", _("每分钟次数至少为 1")))
    if errors:
        raise ValidationFailed(errors)
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    with transaction.atomic():
        if RelyingParty.objects.filter(audience=audience.strip()).exists():
            raise Conflict("party.audience_taken", _("该受众标识已被其他依赖方使用。"))
        party = RelyingParty.objects.create(
            name=name.strip(),
            purpose=purpose.strip(),
            audience=audience.strip(),
            allowed_disclosures=sorted(set(allowed_disclosures)),
            rate_per_minute=rate_per_minute,
            token_prefix=prefix,
            token_hash=_token_hash(secret),
            created_at=clock.now(),
            created_by=getattr(actor, "username", "") or "",
        )
        audit_record(
            actor=actor,
            action=AuditAction.RELYING_PARTY_REGISTER,
            object_type=ObjectType.RELYING_PARTY,
            object_id=party.pk,
            summary=f"登记依赖方 {party.name}",
            detail={
                "audience": party.audience,
                "purpose": party.purpose,
                "allowed": party.allowed_disclosures,
                "rate_per_minute": rate_per_minute,
            },
        )
    return party, f"rp_{prefix}_{secret}"


def relying_party_authenticate(raw: str) -> RelyingParty | None:
    """The active party a token ``rp_<prefix>_<secret>`` names, or None."""
    try:
        marker, prefix, secret = raw.split("_", 2)
    except ValueError:
        return None
    if marker != "rp" or not prefix or not secret:
        return None
    party = RelyingParty.objects.filter(token_prefix=prefix, active=True).first()
    if party is None or not secrets.compare_digest(party.token_hash, _token_hash(secret)):
        return None
    return party


class RateExceeded(Conflict):
    def __init__(self) -> None:
        super().__init__("rate_limited", _("核验请求过于频繁，请稍后重试。"))
        self.http_status = 429


def presentation_verify(*, party: RelyingParty, presentation: str, nonce: str) -> sdjwt.Verdict:
    """Verify one presentation for a relying party: its audience, its own nonce, only the
    claims it is registered for; counted against its rate and audited either way."""
    now = clock.now()
    minute = now.replace(second=0, microsecond=0)
    with transaction.atomic():
        window, _created = VerificationWindow.objects.select_for_update().get_or_create(
            party=party, minute=minute
        )
        if window.count >= party.rate_per_minute:
            audit_record(
                actor=None,
                action=AuditAction.CREDENTIAL_VERIFY_REFUSED,
                object_type=ObjectType.RELYING_PARTY,
                object_id=party.pk,
                summary=f"依赖方 {party.name} 核验超过频率上限",
                detail={"party": party.name, "reason": "rate_limited"},
            )
            raise_after = True
        else:
            window.count += 1
            window.save(update_fields=["count"])
            raise_after = False
    if raise_after:
        raise RateExceeded()
    verdict = local_verifier().verify(
        presentation,
        nonce=nonce,
        audience=party.audience,
        allowed=party.allowed_disclosures,
    )
    reference = _status_reference(presentation)
    with transaction.atomic():
        with translation.override("zh-hans"):
            outcome = _("有效") if verdict.valid else verdict.reason
        audit_record(
            actor=None,
            action=AuditAction.CREDENTIAL_VERIFY,
            object_type=ObjectType.RELYING_PARTY,
            object_id=party.pk,
            summary=f"依赖方 {party.name} 核验学生身份凭证：{outcome}",
            detail={
                "party": party.name,
                "purpose": party.purpose,
                "valid": verdict.valid,
                "reason": verdict.reason,
                "disclosed": verdict.disclosed,
                "credential": reference,
            },
        )
    return verdict


def _status_reference(presentation: str) -> dict:
    """Which credential was presented (its status slot), for the audit trail."""
    try:
        _h, payload, _i, _s = jwt_unverified(split(presentation).issuer_jwt)
        entry = payload["status"]["status_list"]
        return {"uri": str(entry["uri"])[:200], "idx": int(entry["idx"])}
    except (EncodingError, KeyError, TypeError, ValueError):
        return {}

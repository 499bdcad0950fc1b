"""The operators' commands: issue into a file, present, verify (exit 0 valid, 1 invalid
with the reason), offline against a JWKS file."""

import io
import json

import pytest
from django.core.management import call_command

from xueji.credentials import services
from xueji.credentials.keys import key_ring

pytestmark = pytest.mark.django_db


def verify(*args) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("credential_verify", *args, stdout=out)
    except SystemExit as exit_:
        return int(exit_.code or 0), out.getvalue()
    return 0, out.getvalue()


def test_issue_present_and_verify_through_the_commands(enrolled, school, tmp_path):
    issued, key, shown = tmp_path / "c.sd-jwt", tmp_path / "holder.jwk", tmp_path / "p.sd-jwt"
    out = io.StringIO()
    call_command(
        "credential_issue",
        enrolled.number,
        "--out",
        str(issued),
        "--holder-key-out",
        str(key),
        stdout=out,
    )
    assert "已签发" in out.getvalue() and "k1（ES256）" in out.getvalue()
    assert issued.read_text().endswith("~")
    call_command(
        "credential_present",
        str(issued),
        "--holder-key",
        str(key),
        "--disclose",
        "school.name,grade",
        "--nonce",
        "N1",
        "--audience",
        "A1",
        "--out",
        str(shown),
        stdout=io.StringIO(),
    )
    code, text = verify(str(shown), "--nonce", "N1", "--audience", "A1")
    assert code == 0, text
    assert text.startswith("有效（密钥 k1，已核对持有人绑定）")
    assert json.loads(text.split("\n", 1)[1])["school"] == {"name": school.name}
    # wrong nonce: exit 1 with the reason
    code, text = verify(str(shown), "--nonce", "N2", "--audience", "A1")
    assert (code, text.strip()) == (1, "无效：presentation.nonce 随机数（nonce）不符")
    # offline against the published keys
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(key_ring().jwks()))
    assert verify(str(shown), "--nonce", "N1", "--audience", "A1", "--jwks", str(jwks))[0] == 0
    jwks.write_text(json.dumps({"keys": []}))
    code, text = verify(str(shown), "--jwks", str(jwks))
    assert (code, text.split()[0]) == (1, "无效：credential.unknown_key")


def test_verify_reports_a_revoked_credential(enrolled, tmp_path):
    issued = services.credential_issue(actor=None, student_id=enrolled.pk)
    path = tmp_path / "c.sd-jwt"
    path.write_text(issued.text)
    assert verify(str(path))[0] == 0
    services.credential_revoke(actor=None, credential_id=issued.credential.pk, reason="test")
    code, text = verify(str(path))
    assert (code, text.strip()) == (1, "无效：status.revoked 凭证已吊销")


def test_verify_refuses_garbage_with_exit_1(issuer_keys, tmp_path):
    path = tmp_path / "junk"
    path.write_bytes(b"\xff\xfe not a credential")
    code, text = verify(str(path))
    assert (code, text.split()[0]) == (1, "无效：credential.malformed")

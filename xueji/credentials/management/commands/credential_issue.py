"""Issue one student's enrolment credential (SD-JWT VC) for an operator or a test:
``python manage.py credential_issue STUDENT_NUMBER --out FILE``.

Without ``--holder-jwk`` the registry makes a custodial holder key (the portal's);
``--holder-key-out`` writes its private JWK so the operator can make presentations
(``credential_present``)."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from xueji.credentials.services import credential_issue, holder_private_jwk
from xueji.errors import DomainError
from xueji.students.identity import number_q
from xueji.students.models import Student


class Command(BaseCommand):
    help = "Issue a student's enrolment credential (SD-JWT VC) into a file."

    def add_arguments(self, parser):
        parser.add_argument("student_number")
        parser.add_argument("--out", required=True, help="file for the SD-JWT VC")
        parser.add_argument("--holder-jwk", help="the holder's public key (JWK file)")
        parser.add_argument("--holder-key-out", help="write the custodial holder key here")

    def handle(self, *args, **options):
        student = Student.objects.filter(number_q(options["student_number"])).first()
        if student is None:
            raise CommandError("未找到该学籍号的学生。")
        holder_jwk = None
        if options["holder_jwk"]:
            holder_jwk = json.loads(Path(options["holder_jwk"]).read_text(encoding="utf-8"))
        try:
            issued = credential_issue(actor=None, student_id=student.pk, holder_jwk=holder_jwk)
        except DomainError as error:
            raise CommandError(f"{error.code}: {error.message}") from None
        Path(options["out"]).write_text(issued.text, encoding="ascii")
        if options["holder_key_out"]:
            private = holder_private_jwk(issued.credential)
            if private is None:
                raise CommandError("持有人自带密钥，没有托管密钥可写出。")
            Path(options["holder_key_out"]).write_text(json.dumps(private), encoding="utf-8")
        credential = issued.credential
        self.stdout.write(
            f"已签发 {credential.jti}：密钥 {credential.kid}（{credential.alg}），"
            f"状态列表 {credential.status_list.number} 序号 {credential.status_index}，"
            f"有效期至 {credential.expires_at:%Y-%m-%d}"
        )

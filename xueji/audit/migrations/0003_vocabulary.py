"""Old audit rows in the typed vocabulary (xueji.audit.events).

Object types get one name each (``"student"`` and ``"students.student"`` were the same
thing; bare names become ``<app>.<model>``). An action the vocabulary does not know becomes
``legacy`` and keeps its old value in ``detail["legacy_action"]``. This runs before the hash
chain begins (0004), so the chain starts over the mapped rows. The lists are frozen here:
later changes to the vocabulary do not change what this migration did.
"""

from django.db import migrations

OBJECT_TYPES = {
    "user": "accounts.user",
    "api_token": "accounts.api_token",
    "field_keys": "fieldcrypto.keys",
    "student": "students.student",
    "nonbasic_schema": "students.nonbasic_schema",
    "school": "schools.school",
    "batch_run": "enrolment.batch_run",
    "import_job": "exchange.import_job",
    "calendar_year": "workdays.year",
    "anomaly.kind": "anomalies.kind",
    "anomaly.finding": "anomalies.finding",
    "anomaly.merge": "anomalies.merge",
    "anomaly.sightings": "anomalies.sightings",
}

KNOWN_ACTIONS = [
    "account.sign_in",
    "account.sign_out",
    "account.lock",
    "account.password_set",
    "account.password_change_refused",
    "account.totp_enrol",
    "account.totp_install",
    "account.recovery_code_use",
    "account.recovery_codes_regenerate",
    "account.create",
    "account.roles",
    "account.disable",
    "account.enable",
    "account.seal",
    "account.unseal",
    "account.unlock",
    "account.password_reset",
    "account.totp_reset",
    "account.totp_reset_refused",
    "account.refused",
    "account.demo_setup",
    "training.record",
    "api_token.issue",
    "api_token.revoke",
    "field_keys.rotate",
    "field_keys.reindex",
    "student.register",
    "student.import",
    "student.generate",
    "student.reactivate",
    "student.number_upgrade",
    "student.correct",
    "student.reveal",
    "student.reveal_refused",
    "nonbasic_schema.file",
    "school.create",
    "school.update",
    "school.close",
    "import.submit",
    "import.students",
    "import.schools",
    "batch.plan",
    "batch.promote",
    "batch.graduate",
    "batch.failed",
    "change.file",
    "change.step_approve",
    "change.step_refuse",
    "change.step_deadline",
    "change.complete",
    "change.withdraw",
    "change.material_add",
    "change.material_download",
    "ruleset.publish",
    "calendar.year_load",
    "calendar.year_replace",
    "dropout.case_open",
    "dropout.case_close",
    "dropout.follow_up",
    "archive.add",
    "archive.transfer",
    "archive.to_authority",
    "archive.return",
    "archive.paper_register",
    "archive.download",
    "archive.backup_download",
    "campaign.open",
    "campaign.close",
    "campaign.roll_open",
    "campaign.roll_sync",
    "campaign.mark",
    "campaign.mark_all_present",
    "campaign.sign_off",
    "anomaly.detect",
    "anomaly.dismiss",
    "anomaly.different_people",
    "anomaly.merge",
    "anomaly.merge_undo",
    "anomaly.sightings_import",
    "warning.raise",
    "warning.resolve",
    "portal.code_send",
    "portal.code_limited",
    "portal.signin",
    "portal.signin_refused",
    "portal.signout",
    "portal.session_idle",
]


def forwards(apps, schema_editor):
    AuditEvent = apps.get_model("audit", "AuditEvent")
    # QuerySet.update: the model's save() refuses to touch a stored row, and no trigger
    # exists yet (0004 adds them).
    for old, new in OBJECT_TYPES.items():
        AuditEvent.objects.filter(object_type=old).update(object_type=new)
    unknown = AuditEvent.objects.exclude(action__in=KNOWN_ACTIONS).exclude(action="legacy")
    for pk, action, detail in unknown.values_list("pk", "action", "detail").iterator():
        kept = dict(detail or {}, legacy_action=action)
        AuditEvent.objects.filter(pk=pk).update(action="legacy", detail=kept)


def backwards(apps, schema_editor):
    AuditEvent = apps.get_model("audit", "AuditEvent")
    for old, new in OBJECT_TYPES.items():
        if old != "student":  # the old code wrote both names for a student: keep one
            AuditEvent.objects.filter(object_type=new).update(object_type=old)
    legacy = AuditEvent.objects.filter(action="legacy")
    for pk, detail in legacy.values_list("pk", "detail").iterator():
        kept = dict(detail or {})
        action = kept.pop("legacy_action", "legacy")
        AuditEvent.objects.filter(pk=pk).update(action=action, detail=kept)


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_early_warning")]

    operations = [migrations.RunPython(forwards, backwards)]

"""Mask the full student numbers (and ID numbers) older versions wrote into stored text
outside the number columns themselves: history reasons and details ("重复学籍合并，并入 G…"),
batch reports, finding evidence, merge records, import error messages, and the
``guardian:<number>`` name a guardian acted under. New rows are written masked.

A merge's snapshot gets the same columns masked, so an undo still finds every row as the
merge left it. Not reversible (reversing leaves the rows as they are); each batch commits on
its own and a re-run finds nothing left.
"""

from django.db import migrations, transaction

from xueji.students.scrub import scrub_model, scrub_snapshot

# model label → the columns masked (kept in step with the merge snapshots below).
SCRUBBED: dict[str, tuple[str, ...]] = {
    "enrolment.StatusEvent": ("reason", "detail", "actor_username"),
    "enrolment.BatchRun": ("report",),
    "students.StudentNumber": ("reason",),
    "students.BasicInfoRevision": ("changes", "actor_username"),
    "anomalies.Finding": ("evidence", "resolution_note"),
    "changes.ChangeRequest": ("filed_by_username", "closed_reason"),
    "changes.ApprovalStep": ("actor_username",),
    "changes.Material": ("uploaded_by",),
    "archives.ArchiveDocument": ("created_by_username",),
    "exchange.ImportRowError": ("message",),
}


def mask_numbers(apps, schema_editor) -> None:
    for label, fields in SCRUBBED.items():
        scrub_model(apps.get_model(label), fields)
    merges = apps.get_model("anomalies", "MergeRecord")
    scrub_model(merges, ("survivor_number", "retired_number"))
    for pk in merges.objects.order_by("pk").values_list("pk", flat=True):
        with transaction.atomic():
            merge = merges.objects.select_for_update().get(pk=pk)
            snapshot = scrub_snapshot(merge.snapshot, SCRUBBED)
            if snapshot != merge.snapshot:
                merges.objects.filter(pk=pk).update(snapshot=snapshot)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("students", "0004_rekey_unread_characters"),
        ("enrolment", "0003_batch_runs"),
        ("anomalies", "0001_initial"),
        ("changes", "0004_request_filed_grade"),
        ("exchange", "0001_initial"),
        ("archives", "0001_initial"),
    ]

    operations = [migrations.RunPython(mask_numbers, migrations.RunPython.noop, elidable=False)]

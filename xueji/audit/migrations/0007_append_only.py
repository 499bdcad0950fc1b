"""The database refuses UPDATE, DELETE and TRUNCATE of the audit trail (and of its
checkpoints and purge records): PostgreSQL trigger functions, SQLite triggers. A trail row
may be deleted only by a retention purge (older than 183 days and covered by a purge
record). See xueji/audit/chain.py for the SQL and docs/security.md for the roles."""

from django.db import migrations

from xueji.audit.chain import create_triggers, drop_triggers


def install(apps, schema_editor) -> None:
    if schema_editor.connection.vendor in ("postgresql", "sqlite"):
        create_triggers(schema_editor.connection)


def remove(apps, schema_editor) -> None:
    if schema_editor.connection.vendor in ("postgresql", "sqlite"):
        drop_triggers(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("audit", "0006_chain_existing_rows")]

    operations = [migrations.RunPython(install, remove, elidable=False)]

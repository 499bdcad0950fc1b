"""``flush`` with the audit trail's refusal lifted around it.

Django's ``flush`` (also run between transactional tests) empties every table with
``TRUNCATE`` (PostgreSQL) or ``DELETE`` (SQLite), which the append-only triggers refuse. Only
the schema owner may drop triggers; for it, this wipes the database as Django's command does
and puts the triggers back. An application role that does not own the tables cannot flush.
"""

from django.core.management.commands.flush import Command as DjangoFlush

from xueji.audit.chain import triggers_disabled


class Command(DjangoFlush):
    def handle(self, **options):
        with triggers_disabled(options["database"]):
            return super().handle(**options)

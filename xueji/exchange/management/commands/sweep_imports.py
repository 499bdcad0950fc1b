"""Mark failed the imports left "处理中" by a worker that died (run it with the daily jobs,
or every few minutes; the import pages and endpoints also run it before they read)."""

from django.core.management.base import BaseCommand

from xueji.exchange.services import import_jobs_fail_stale


class Command(BaseCommand):
    help = "Mark failed the running import jobs without a heartbeat for IMPORT_STALE_MINUTES."

    def handle(self, *args, **options) -> None:
        count = import_jobs_fail_stale()
        self.stdout.write(f"{count} import job(s) marked failed")

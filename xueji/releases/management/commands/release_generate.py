"""python manage.py release_generate ID: generate (again) the file of an approved release
whose generation failed (xueji.releases.services.release_generate)."""

from django.core.exceptions import ObjectDoesNotExist
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from xueji.errors import DomainError
from xueji.releases.services import release_generate


class Command(BaseCommand):
    help = _("为已批准的数据发布（重新）生成文件")

    def add_arguments(self, parser) -> None:
        parser.add_argument("release_id", type=int)

    def handle(self, *args, **options) -> None:
        try:
            release = release_generate(actor=None, release_id=options["release_id"])
        except ObjectDoesNotExist as error:
            raise CommandError(_("没有这项数据发布。")) from error
        except DomainError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            _("已生成数据发布 %(ref)s：%(rows)d 行。")
            % {"ref": release.reference, "rows": release.row_count or 0}
        )

"""``check --deploy``: what production refuses (issue 10, finding 8), as errors.

The rules are ``xueji.deploy``'s; ``config/settings/prod.py`` refuses to start on the same
problems, so these checks matter for a deployment run with another settings module.
"""

from django.conf import settings
from django.core.checks import Error, register

from xueji import deploy

HINT = "See docs/security.md, 'Production settings'."


def _errors(problems: list[str], check_id: str) -> list[Error]:
    return [Error(problem, hint=HINT, id=check_id) for problem in problems]


@register("security", deploy=True)
def field_keys_check(app_configs, **kwargs) -> list[Error]:
    return _errors(
        deploy.field_key_problems(
            getattr(settings, "XUEJI_FIELD_KEYS", None),
            getattr(settings, "XUEJI_FIELD_KEY_CURRENT", ""),
        ),
        "xueji.E001",
    ) + _errors(
        deploy.blind_index_key_problems(getattr(settings, "XUEJI_BLIND_INDEX_KEY", "")),
        "xueji.E002",
    )


@register("security", deploy=True)
def database_check(app_configs, **kwargs) -> list[Error]:
    return _errors(deploy.database_problems(settings.DATABASES), "xueji.E003")


@register("security", deploy=True)
def api_docs_check(app_configs, **kwargs) -> list[Error]:
    return _errors(
        deploy.api_docs_problems(getattr(settings, "XUEJI_API_DOCS", "signed_in")), "xueji.E004"
    )

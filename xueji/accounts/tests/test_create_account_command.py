import pytest
from django.core.management import CommandError, call_command

from xueji.accounts.models import Unit, User

pytestmark = pytest.mark.django_db


def test_creates_county_account_with_unit_chain(monkeypatch, capsys):
    monkeypatch.setenv("XUEJI_NEW_PASSWORD", "Long-enough-pass-1")
    call_command("create_account", "tianhe", "--division", "440106", "--roles", "reviewer")
    user = User.objects.get(username="tianhe")
    assert user.unit.kind == "county" and user.unit.area_prefix == "440106"
    assert user.unit.parent.kind == "city" and user.unit.parent.parent.kind == "province"
    assert user.role_set == {"reviewer"}
    assert user.check_password("Long-enough-pass-1")
    assert "已创建账号 tianhe" in capsys.readouterr().out


def test_unknown_division_and_role_are_refused(monkeypatch):
    monkeypatch.setenv("XUEJI_NEW_PASSWORD", "Long-enough-pass-1")
    with pytest.raises(CommandError, match="未知的行政区划代码"):
        call_command("create_account", "x", "--division", "999999", "--roles", "reviewer")
    with pytest.raises(CommandError, match="未知角色"):
        call_command("create_account", "y", "--national", "--roles", "king")
    assert not User.objects.exists()
    assert not Unit.objects.exists()

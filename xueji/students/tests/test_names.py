"""Name keys of characters pypinyin cannot read (生僻字 beyond its dictionary)."""

import importlib

from xueji.students.names import homophones, name_key, name_pinyin, unread_token

# Characters of CJK extension B without a pinyin reading in pypinyin's dictionary.
UNREAD = ("𠇔", "𡘙", "𠈌")


def test_unread_characters_keep_distinct_keys():
    # when
    keys = {name_key("王" + ch) for ch in UNREAD}

    # then: one key each, spelled in letters (no digit the pinyin style could drop)
    assert len(keys) == len(UNREAD)
    for ch in UNREAD:
        token = unread_token(ch)
        assert name_key("王" + ch) == "wang" + token
        assert token.startswith("?") and not any(c.isdigit() for c in token)
        assert len(token) == 1 + len(f"{ord(ch):x}")


def test_unread_token_is_one_to_one_over_the_supplementary_planes():
    tokens = {unread_token(chr(code)) for code in range(0x20000, 0x20000 + 5000)}
    assert len(tokens) == 5000


def test_readable_rare_characters_still_read_as_pinyin():
    assert name_pinyin("王䶮") == "wang yan"
    assert name_key("王堃") == "wangkun"


def test_migration_rekeys_only_names_with_unread_characters(make_student):
    from django.apps import apps

    from xueji.students.models import Student

    migration = importlib.import_module("xueji.students.migrations.0004_rekey_unread_characters")
    rare = make_student(name="王𠇔", id_type="", id_number="")
    plain = make_student(name="李小龙")
    # As the old code wrote it: the digits of the code point dropped.
    Student.objects.filter(pk=rare.pk).update(name_key="wang?d")
    plain_key = Student.objects.get(pk=plain.pk).name_key

    # when
    migration.rekey(apps, None)

    # then
    assert Student.objects.get(pk=rare.pk).name_key == "wang" + unread_token("𠇔")
    assert Student.objects.get(pk=plain.pk).name_key == plain_key == "lixiaolong"


def test_homophones_group_characters_read_alike():
    assert homophones("子梓涵寒含伟") == {
        "子": ["梓"],
        "梓": ["子"],
        "涵": ["寒", "含"],
        "寒": ["涵", "含"],
        "含": ["涵", "寒"],
    }

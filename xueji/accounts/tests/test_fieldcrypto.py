import pytest
from django.test import override_settings

from xueji import fieldcrypto


@pytest.fixture(autouse=True)
def fresh_keys():
    fieldcrypto.reset_cache()
    yield
    fieldcrypto.reset_cache()


def test_round_trip_and_context_binding():
    stored = fieldcrypto.encrypt("440106201703080024", context="students.id_number")
    assert stored.startswith("v1$") and "440106" not in stored
    assert fieldcrypto.decrypt(stored, context="students.id_number") == "440106201703080024"
    with pytest.raises(Exception):  # noqa: B017 - InvalidTag from cryptography
        fieldcrypto.decrypt(stored, context="students.guardian_id_number")


def test_each_encryption_uses_a_fresh_nonce():
    a = fieldcrypto.encrypt("王𠇔", context="c")
    b = fieldcrypto.encrypt("王𠇔", context="c")
    assert (
        a != b
        and fieldcrypto.decrypt(a, context="c") == fieldcrypto.decrypt(b, context="c") == "王𠇔"
    )


def test_versions_and_unknown_key():
    old, new = fieldcrypto.new_key(), fieldcrypto.new_key()
    with override_settings(XUEJI_FIELD_KEYS={"1": old}, XUEJI_FIELD_KEY_CURRENT="1"):
        fieldcrypto.reset_cache()
        stored_v1 = fieldcrypto.encrypt("x", context="c")
    with override_settings(XUEJI_FIELD_KEYS={"1": old, "2": new}, XUEJI_FIELD_KEY_CURRENT="2"):
        fieldcrypto.reset_cache()
        assert fieldcrypto.decrypt(stored_v1, context="c") == "x"
        assert fieldcrypto.version_of(fieldcrypto.encrypt("x", context="c")) == "2"
    with override_settings(XUEJI_FIELD_KEYS={"2": new}, XUEJI_FIELD_KEY_CURRENT="2"):
        fieldcrypto.reset_cache()
        with pytest.raises(fieldcrypto.FieldKeyError):
            fieldcrypto.decrypt(stored_v1, context="c")


def test_empty_stays_empty():
    assert fieldcrypto.encrypt("", context="c") == ""
    assert fieldcrypto.decrypt("", context="c") == ""

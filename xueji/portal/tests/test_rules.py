"""The portal's pure rules: masking, the code's life, the send limit, the idle session."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from xueji.portal import rules

T0 = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)


def test_phone_masks():
    assert rules.mask_phone("13912345678") == "139****5678"
    assert rules.mask_phone("8765 4321") == "87****21"
    assert rules.mask_phone("123") == "***"
    assert rules.mask_phone("") == ""


def test_name_masks():
    assert rules.mask_name("林小雨") == "林*雨"
    assert rules.mask_name("李四") == "李*"
    assert rules.mask_name("欧阳娜娜") == "欧阳**"
    assert rules.mask_name("王") == "王"


def test_codes_in_a_message_are_masked_and_other_numbers_kept():
    text = "【学籍管理】您的验证码为 042917，10 分钟内有效。学籍号 G4401062017030800219"
    masked = rules.mask_codes(text)
    assert "042917" not in masked and "******" in masked
    assert "G4401062017030800219" in masked


def test_a_new_code_has_six_digits():
    for _i in range(50):
        code = rules.code_new()
        assert len(code) == 6 and code.isdigit()


def test_typed_codes_are_normalised():
    assert rules.code_normalise(" 123 456 ") == "123456"
    assert rules.code_normalise("１２３４５６") == "123456"


def test_code_state_in_order_used_exhausted_expired():
    expires = T0 + rules.CODE_TTL
    state = rules.code_state
    assert state(now=T0, expires_at=expires, attempts=0, used_at=None) == "usable"
    assert state(now=expires, expires_at=expires, attempts=0, used_at=None) == "expired"
    assert state(now=T0, expires_at=expires, attempts=5, used_at=None) == "exhausted"
    assert state(now=T0, expires_at=expires, attempts=4, used_at=None) == "usable"
    assert state(now=T0, expires_at=expires, attempts=0, used_at=T0) == "used"


@given(st.integers(min_value=0, max_value=20))
def test_send_limit(sent):
    assert rules.send_allowed(sent) == (sent < 5)


@given(st.integers(min_value=0, max_value=3600))
def test_idle_after_thirty_minutes(seconds):
    now = T0 + timedelta(seconds=seconds)
    assert rules.session_idle(active_at=T0, now=now) == (seconds >= 30 * 60)

"""The second factor (TOTP, RFC 6238) — filled in by the two-factor work.

Contract used by the sign-in pipeline (xueji/accounts/authentication.py):
``second_factor_required(user) -> bool``.
"""


def second_factor_required(user) -> bool:
    """Whether this account must pass a second factor to sign in."""
    return False

"""Signed tokens of what a page showed: they carry it back and refuse tampering, other keys and age."""

from __future__ import annotations

import time

import pytest
from itsdangerous import URLSafeTimedSerializer

from t2igan.feedback.tokens import SALT, InvalidToken, Shown, Signer, load_secret


def test_a_token_carries_what_was_shown_and_refuses_tampering_other_keys_and_age(tmp_path) -> None:
    signer = Signer(b"secret")
    shown = Shown("t2igan", "a red circle", [1, 2], {"left": "2", "right": "1"}, "session")
    token = signer.sign(shown)
    assert signer.verify(token) == shown
    with pytest.raises(InvalidToken, match="not one this studio issued"):
        Signer(b"another secret").verify(token)
    forged = URLSafeTimedSerializer(b"guess", salt=SALT).dumps({**vars(shown), "versions": {"left": "9"}})
    with pytest.raises(InvalidToken):
        signer.verify(forged)
    with pytest.raises(InvalidToken, match="no comparison token"):
        signer.verify(None)
    time.sleep(1.1)
    with pytest.raises(InvalidToken, match="older than a day"):
        Signer(b"secret", max_age_s=0).verify(token)
    key = tmp_path / "studio.key"
    assert load_secret(key) == load_secret(key) and len(load_secret(key)) == 64
    assert key.stat().st_mode & 0o777 == 0o600

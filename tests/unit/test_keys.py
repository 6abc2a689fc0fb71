"""API keys in the domain: shown once, kept hashed, parsed strictly, revoked and rotated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rendergate.domain.keys import hash_secret, new_key, parse_token

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def test_a_new_key_keeps_only_the_hash_of_its_secret() -> None:
    token, key = new_key("shop", now=NOW)
    parsed = parse_token(token)
    assert parsed is not None
    key_id, secret = parsed
    assert key_id == key.key_id and len(key_id) == 12
    assert secret not in repr(key) and key.secret_hash == hash_secret(secret)
    other = secret[:-1] + ("1" if secret.endswith("0") else "0")  # one character off
    assert key.matches(secret) and not key.matches(other)
    assert key.webhook_secret.startswith("whsec_") and key.active


def test_tokens_not_shaped_like_ours_are_not_parsed() -> None:
    for token in ("", "rk", "rk_", "rk_abc_x", "sk_0123456789ab_x", "rk_0123456789ab_"):
        assert parse_token(token) is None, token


def test_revoking_and_rotating_keep_the_key_id() -> None:
    _, key = new_key("shop", now=NOW)
    rotated = key.rotate_webhook_secret(overlap_until=NOW + timedelta(hours=24))
    assert rotated.key_id == key.key_id and rotated.webhook_secret != key.webhook_secret
    assert rotated.previous_webhook_secret == key.webhook_secret
    revoked = rotated.revoke(now=NOW)
    assert not revoked.active and revoked.revoke(now=NOW + timedelta(1)) == revoked

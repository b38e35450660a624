"""Encryption at rest for channel credentials (MultiFernet: key rotation without downtime).

Put a new key first in BEFFROI_TOKEN_KEYS (or the data folder's token_keys file), keep the old ones after it,
run `beffroi rotate_keys`, then drop the old keys.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class VaultError(Exception):
    """Raised when stored credentials cannot be decrypted (for example a removed key)."""


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys])


def vault() -> MultiFernet:
    return _fernet(tuple(settings.TOKEN_ENCRYPTION_KEYS))


def encrypt_json(value: dict[str, Any]) -> str:
    return vault().encrypt(json.dumps(value, separators=(",", ":")).encode()).decode()


def decrypt_json(token: str) -> dict[str, Any]:
    if not token:
        return {}
    try:
        return json.loads(vault().decrypt(token.encode()))
    except InvalidToken as exc:
        # Never include the token itself: the message may reach logs or an error page.
        raise VaultError("stored credentials cannot be decrypted with the configured keys") from exc


def rotate(token: str) -> str:
    """Re-encrypt with the primary key (no-op for empty values)."""
    if not token:
        return token
    try:
        return vault().rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise VaultError("stored credentials cannot be decrypted with the configured keys") from exc

"""Secrets generated on first run into the data folder, never committed, readable by the owner only."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet


def _read_or_create(path: Path, make: callable) -> str:
    if path.exists():
        return path.read_text().strip()
    value = make()
    # O_EXCL: two processes starting at once never overwrite each other's key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value


def load_or_create_secret_key(path: Path) -> str:
    return _read_or_create(path, lambda: secrets.token_urlsafe(50))


def load_or_create_token_keys(path: Path) -> list[str]:
    """One key per line; the first encrypts, every key decrypts."""
    text = _read_or_create(path, lambda: Fernet.generate_key().decode())
    return [line.strip() for line in text.splitlines() if line.strip()]

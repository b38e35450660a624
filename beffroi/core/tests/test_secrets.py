"""Secrets are generated on first run into the data folder, kept private, and never regenerated."""

from __future__ import annotations

import stat

from cryptography.fernet import Fernet

from beffroi.core.secrets import load_or_create_secret_key, load_or_create_token_keys


def test_secret_key_is_generated_once_and_private(tmp_path):
    path = tmp_path / "secret_key"
    first = load_or_create_secret_key(path)
    assert len(first) >= 50
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_secret_key(path) == first


def test_token_keys_are_valid_fernet_keys_and_several_may_be_listed(tmp_path):
    path = tmp_path / "token_keys"
    [key] = load_or_create_token_keys(path)
    Fernet(key.encode())
    second = Fernet.generate_key().decode()
    path.write_text(f"{second}\n{key}\n")
    assert load_or_create_token_keys(path) == [second, key]


def test_settings_read_the_environment(monkeypatch, tmp_path):
    import importlib

    import beffroi.settings as settings_module

    monkeypatch.setenv("BEFFROI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/somewhere")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/3")
    monkeypatch.setenv("TIME_ZONE", "America/Toronto")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("DEBUG", raising=False)
    try:
        fresh = importlib.reload(settings_module)
        assert fresh.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
        assert fresh.DATABASES["default"]["NAME"] == "somewhere"
        assert fresh.CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
        assert fresh.TIME_ZONE == "America/Toronto"
        assert fresh.DEBUG is False
        assert (tmp_path / "secret_key").read_text().strip() == fresh.SECRET_KEY
        assert (tmp_path / "token_keys").exists()
    finally:
        monkeypatch.undo()
        importlib.reload(settings_module)


def test_an_invalid_time_zone_setting_stops_start_up(monkeypatch, tmp_path):
    import importlib

    import pytest
    from django.core.exceptions import ImproperlyConfigured

    import beffroi.settings as settings_module

    monkeypatch.setenv("BEFFROI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TIME_ZONE", "Paris")
    try:
        with pytest.raises(ImproperlyConfigured, match="not an IANA time zone"):
            importlib.reload(settings_module)
    finally:
        monkeypatch.undo()
        importlib.reload(settings_module)

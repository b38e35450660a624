"""Connecting an Atom feed: nothing to authorise; the channel gets an unguessable feed address."""

from __future__ import annotations

import secrets
from typing import Any

import httpx

from beffroi.networks.base import ChannelAccess, ConnectedAccount


class AtomConnect:
    def start(self, *, redirect_uri: str, state: str, form: dict[str, str]) -> tuple[str, dict[str, Any]]:
        return "", {}

    def finish(
        self, *, redirect_uri: str, params: dict[str, str], kept: dict[str, Any], http: httpx.Client | None = None
    ) -> list[ConnectedAccount]:
        title = (params.get("title") or "").strip()[:120]
        if not title:
            raise ValueError("A feed needs a title.")
        token = secrets.token_urlsafe(12)
        return [
            ConnectedAccount(
                remote_id=token,
                display_name=title,
                config={"feed_token": token, "subtitle": (params.get("subtitle") or "").strip()[:300]},
                credentials={},
            )
        ]

    def refresh(self, access: ChannelAccess, http: httpx.Client) -> ConnectedAccount | None:
        return None


CONNECT = AtomConnect()

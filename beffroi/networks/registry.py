"""The networks Beffroi knows, and the connector of each one that can publish."""

from __future__ import annotations

from functools import cache

from django.db import models
from django.utils.translation import gettext_lazy as _

from beffroi.networks.capabilities import Capabilities


class Network(models.TextChoices):
    FACEBOOK = "facebook", "Facebook"
    INSTAGRAM = "instagram", "Instagram"
    TIKTOK = "tiktok", "TikTok"
    SNAPCHAT = "snapchat", "Snapchat"
    X = "x", "X"
    LINKEDIN = "linkedin", "LinkedIn"
    YOUTUBE = "youtube", "YouTube"
    MASTODON = "mastodon", "Mastodon"
    BLUESKY = "bluesky", "Bluesky"
    THREADS = "threads", "Threads"
    ATOM = "atom", _("Atom feed")


# The networks Beffroi can publish to (each has a folder here with the same few files).
SUPPORTED = (Network.BLUESKY, Network.MASTODON, Network.FACEBOOK, Network.INSTAGRAM, Network.ATOM)


@cache
def all_capabilities() -> dict[str, Capabilities]:
    from importlib import import_module

    return {
        str(network): import_module(f"beffroi.networks.{network}.capabilities").CAPABILITIES for network in SUPPORTED
    }


def capabilities_for(network: str) -> Capabilities | None:
    """What a network accepts, or None for a network Beffroi does not support yet."""
    return all_capabilities().get(network)


@cache
def connectors() -> dict[str, object]:
    from beffroi.networks.atom.connector import AtomConnector
    from beffroi.networks.bluesky.connector import BlueskyConnector
    from beffroi.networks.facebook.connector import FacebookConnector
    from beffroi.networks.instagram.connector import InstagramConnector
    from beffroi.networks.mastodon.connector import MastodonConnector

    every = (MastodonConnector(), AtomConnector(), BlueskyConnector(), FacebookConnector(), InstagramConnector())
    return {connector.network: connector for connector in every}


def connector_for(network: str):
    """The connector publishing to this network, or None while Beffroi cannot publish there yet."""
    return connectors().get(network)


@cache
def connects() -> dict[str, object]:
    """How channels of each network are connected (each folder's connect.py)."""
    from importlib import import_module

    found = {}
    for network in SUPPORTED:
        try:
            module = import_module(f"beffroi.networks.{network}.connect")
        except ModuleNotFoundError as error:
            if error.name != f"beffroi.networks.{network}.connect":
                raise
            continue
        if getattr(module, "CONNECT", None) is not None:
            found[str(network)] = module.CONNECT
    return found


def connect_for(network: str):
    return connects().get(network)


@cache
def insights_readers() -> dict[str, object | None]:
    """Each network's statistics reader (its folder's `insights.py`: READER), None where it has no statistics."""
    from importlib import import_module

    found: dict[str, object | None] = {}
    for network in SUPPORTED:
        try:
            module = import_module(f"beffroi.networks.{network}.insights")
        except ModuleNotFoundError as error:
            if error.name != f"beffroi.networks.{network}.insights":
                raise
            continue  # a network without statistics code yet: no reader
        found[str(network)] = module.READER
    return found


def insights_reader_for(network: str):
    return insights_readers().get(network)


def public_reader_for(network: str):
    """The reader of public accounts (watched pages) of a network, or None where the network does not allow it."""
    from importlib import import_module

    if network not in SUPPORTED:
        return None
    try:
        module = import_module(f"beffroi.networks.{network}.insights")
    except ModuleNotFoundError as error:
        if error.name != f"beffroi.networks.{network}.insights":
            raise
        return None
    return getattr(module, "PUBLIC_READER", None)

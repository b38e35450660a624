"""Atom feed: an entry of a public feed served by Beffroi (RFC 4287), for a website or a newsletter tool."""

from beffroi.networks.capabilities import MB, Auth, Capabilities, Feature, MediaKind, MediaRule, Unit

CAPABILITIES = Capabilities(
    network="atom",
    label="Atom",
    text_limit=100_000,
    text_unit=Unit.CHARACTERS,
    media=(MediaRule(MediaKind.IMAGE, ("image/jpeg", "image/png", "image/gif", "image/webp"), max_bytes=10 * MB),),
    max_media=4,
    alt_text_limit=1000,
    link_card=True,
    auth=(Auth.NONE,),
    features=frozenset({Feature.PUBLISH, Feature.READ_BACK, Feature.DELETE}),
)

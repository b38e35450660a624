"""Bluesky: what a post may hold (app.bsky.feed.post lexicon and the Bluesky app's limits)."""

from beffroi.networks.capabilities import Auth, Capabilities, Feature, MediaKind, MediaRule, Unit

CAPABILITIES = Capabilities(
    network="bluesky",
    label="Bluesky",
    text_limit=300,
    text_unit=Unit.GRAPHEMES,
    text_byte_limit=3000,
    media=(
        # uploadBlob accepts images up to 1,000,000 bytes for a post embed.
        MediaRule(MediaKind.IMAGE, ("image/jpeg", "image/png", "image/webp", "image/gif"), max_bytes=1_000_000),
        # No video rule: Bluesky takes videos (≤ 3 min, ≤ 100 MB) through its video service
        # (app.bsky.video.uploadVideo), which Beffroi does not speak yet, so the validator refuses them up front.
    ),
    max_media=4,
    max_videos=1,
    alt_text_limit=2000,
    threads=True,
    reply_controls=True,
    link_card=True,
    auth=(Auth.APP_PASSWORD, Auth.OAUTH),
    features=frozenset(
        {
            Feature.PUBLISH,
            Feature.READ_BACK,
            Feature.DELETE,
            Feature.POST_METRICS,
            Feature.ACCOUNT_METRICS,
            Feature.COMMENTS,
            Feature.MENTIONS,
            Feature.HIDE_COMMENTS,
            Feature.BAN,
        }
    ),
)

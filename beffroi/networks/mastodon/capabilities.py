"""Mastodon: what a status may hold. Defaults of a stock Mastodon 4.x instance; the character limit and the
number of attachments are read from each instance's /api/v2/instance configuration when the channel connects."""

from datetime import timedelta

from beffroi.networks.capabilities import MB, Auth, Capabilities, Feature, MediaKind, MediaRule, Unit

CAPABILITIES = Capabilities(
    network="mastodon",
    label="Mastodon",
    text_limit=500,
    text_unit=Unit.GRAPHEMES,
    url_length=23,
    remote_mentions_count_as_local=True,
    text_limit_is_per_channel=True,
    media=(
        MediaRule(
            MediaKind.IMAGE, ("image/jpeg", "image/png", "image/gif", "image/webp", "image/heic"), max_bytes=16 * MB
        ),
        MediaRule(MediaKind.VIDEO, ("video/mp4", "video/quicktime"), max_bytes=99 * MB),
    ),
    max_media=4,
    max_videos=1,
    alt_text_limit=1500,
    content_warning=True,
    polls=True,
    threads=True,
    visibilities=("public", "unlisted", "private", "direct"),
    native_scheduling=(timedelta(minutes=5), timedelta(days=365)),
    auth=(Auth.OAUTH,),
    features=frozenset(
        {
            Feature.PUBLISH,
            Feature.READ_BACK,
            Feature.DELETE,
            Feature.POST_METRICS,
            Feature.ACCOUNT_METRICS,
            Feature.COMMENTS,
            Feature.MENTIONS,
            Feature.BAN,
        }
    ),
)

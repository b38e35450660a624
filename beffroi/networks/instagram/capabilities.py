"""Instagram professional account: what a post may hold (Content Publishing API: containers)."""

from beffroi.networks.capabilities import MB, Auth, Capabilities, Feature, MediaKind, MediaRule, Unit

CAPABILITIES = Capabilities(
    network="instagram",
    label="Instagram",
    text_limit=2200,
    text_unit=Unit.CHARACTERS,
    requires_media=True,
    media=(
        # Feed images: JPEG only, ≤ 8 MB, aspect ratio from 4:5 to 1.91:1, 320 to 1440 pixels wide.
        MediaRule(
            MediaKind.IMAGE,
            ("image/jpeg",),
            max_bytes=8 * MB,
            min_width=320,
            max_width=1440,
            min_aspect=0.8,
            max_aspect=1.91,
        ),
        # Every video is a reel: 3 s to 15 min, ≤ 300 MB.
        MediaRule(
            MediaKind.VIDEO,
            ("video/mp4", "video/quicktime"),
            max_bytes=300 * MB,
            min_duration_s=3,
            max_duration_s=15 * 60,
        ),
    ),
    max_media=10,  # a carousel
    max_videos=10,
    mixes_media_kinds=True,
    alt_text_limit=1000,
    max_hashtags=30,
    max_mentions=20,
    first_comment=True,
    media_needs_public_url=True,
    auth=(Auth.OAUTH,),
    # The API cannot delete a published Instagram post: it is deleted in the app.
    features=frozenset(
        {
            Feature.PUBLISH,
            Feature.READ_BACK,
            Feature.POST_METRICS,
            Feature.ACCOUNT_METRICS,
            Feature.AUDIENCE,
            Feature.COMMENTS,
            Feature.MENTIONS,
            Feature.HIDE_COMMENTS,
            Feature.DELETE_COMMENTS,
        }
    ),
)

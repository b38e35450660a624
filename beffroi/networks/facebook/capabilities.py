"""Facebook Page: what a Page post may hold (Graph API /feed, /photos, /videos)."""

from datetime import timedelta

from beffroi.networks.capabilities import MB, Auth, Capabilities, Feature, MediaKind, MediaRule, Unit

CAPABILITIES = Capabilities(
    network="facebook",
    label="Facebook",
    text_limit=63206,
    text_unit=Unit.CHARACTERS,
    media=(
        MediaRule(MediaKind.IMAGE, ("image/jpeg", "image/png", "image/gif", "image/webp"), max_bytes=10 * MB),
        # What one /videos request takes (Beffroi does not use the resumable upload API): 1 GB, 20 minutes.
        MediaRule(MediaKind.VIDEO, ("video/mp4", "video/quicktime"), max_bytes=1024 * MB, max_duration_s=20 * 60),
    ),
    max_media=10,
    max_videos=1,
    first_comment=True,
    link_card=True,
    # Graph API: scheduled_publish_time from 10 minutes to 30 days ahead.
    native_scheduling=(timedelta(minutes=10), timedelta(days=30)),
    auth=(Auth.OAUTH,),
    video_advice_square=True,
    features=frozenset(
        {
            Feature.PUBLISH,
            Feature.READ_BACK,
            Feature.DELETE,
            Feature.POST_METRICS,
            Feature.ACCOUNT_METRICS,
            Feature.AUDIENCE,
            Feature.COMMENTS,
            Feature.MENTIONS,
            Feature.MESSAGES,
            Feature.HIDE_COMMENTS,
            Feature.DELETE_COMMENTS,
            Feature.BAN,
        }
    ),
)

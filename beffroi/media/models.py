"""Pictures and videos attached to posts: stored in the data folder, checked from their own bytes, and served at
an unguessable public address (Instagram and Facebook fetch media from a URL)."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from beffroi.networks.capabilities import MediaKind
from beffroi.organisations.models import Organisation


def _token() -> str:
    return secrets.token_urlsafe(18)


def _upload_path(instance: MediaFile, filename: str) -> str:
    # Never the uploaded name on disk: only the organisation, the token and the sniffed extension.
    extension = EXTENSIONS.get(instance.mime_type, "bin")
    return f"org-{instance.organisation_id}/{instance.public_token}.{extension}"


EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/gif": "gif",
    "image/webp": "webp",
    "image/heic": "heic",
    "video/mp4": "mp4",
    "video/quicktime": "mov",
}


class MediaFile(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="media_files")
    file = models.FileField(upload_to=_upload_path, max_length=300)
    original_name = models.CharField(_("file name"), max_length=255, blank=True)
    mime_type = models.CharField(max_length=64)
    kind = models.CharField(max_length=8, choices=[(k.value, k.value) for k in MediaKind])
    size = models.PositiveBigIntegerField()
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    duration_s = models.FloatField(null=True, blank=True)
    sha256 = models.CharField(max_length=64)
    public_token = models.CharField(max_length=40, unique=True, default=_token, editable=False)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("media file")
        verbose_name_plural = _("media files")
        constraints = [models.UniqueConstraint(fields=["organisation", "sha256"], name="one_copy_per_organisation")]

    def __str__(self) -> str:
        return self.original_name or self.public_token

    def as_input(self, alt_text: str = ""):
        """The file as the validator sees it (networks/validation.py), from what was measured at upload."""
        from beffroi.media.inspect import MediaInfo
        from beffroi.networks.validation import MediaInput

        info = MediaInfo(self.mime_type, MediaKind(self.kind), self.size, self.width, self.height, self.duration_s)
        return MediaInput(info, alt_text=alt_text, name=self.original_name)

    @property
    def public_url(self) -> str:
        return f"{public_media_base()}/m/{self.public_token}.{EXTENSIONS.get(self.mime_type, 'bin')}"


def public_media_base() -> str:
    return (getattr(settings, "PUBLIC_MEDIA_URL", "") or settings.BASE_URL).rstrip("/")


def media_is_public() -> bool:
    """Whether networks can fetch our media: HTTPS, and a host that is not this machine or a private network."""
    import ipaddress
    from urllib.parse import urlsplit

    from beffroi.networks.servers import is_public_address

    parts = urlsplit(public_media_base())
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" or not host or host == "localhost" or host.endswith((".local", ".localhost")):
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return "." in host
    return is_public_address(host)


class PostMedia(models.Model):
    """A file in a post, in order, with its description. With a variant, it replaces the post's media on that
    variant's channel (a square picture for Instagram, a wide one elsewhere)."""

    post = models.ForeignKey("publishing.Post", on_delete=models.CASCADE, related_name="media")
    variant = models.ForeignKey(
        "publishing.Variant", on_delete=models.CASCADE, null=True, blank=True, related_name="media"
    )
    media = models.ForeignKey(MediaFile, on_delete=models.PROTECT, related_name="uses")
    position = models.PositiveSmallIntegerField(default=0)
    alt_text = models.TextField(_("description (alt text)"), blank=True)

    class Meta:
        ordering = ["position", "pk"]

"""Storing an uploaded file: checked from its bytes, size-capped, de-duplicated per organisation."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.utils.translation import gettext as _

from beffroi.media.inspect import MediaError, inspect_file
from beffroi.media.models import MediaFile


class UploadRefused(ValueError):
    """Shown to the person as it is (already translated)."""


def max_upload_bytes() -> int:
    return int(getattr(settings, "MAX_UPLOAD_MB", 200)) * 1024 * 1024


def store_upload(organisation, uploaded, *, uploaded_by=None, name: str = "") -> MediaFile:
    """Saves an uploaded file (a Django UploadedFile or any binary file object) after checking what it is."""
    limit = max_upload_bytes()
    digest = hashlib.sha256()
    with tempfile.NamedTemporaryFile(dir=settings.DATA_DIR, prefix="upload-", delete=True) as temporary:
        size = 0
        chunks = uploaded.chunks() if hasattr(uploaded, "chunks") else iter(lambda: uploaded.read(1 << 20), b"")
        for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise UploadRefused(
                    _("This file is larger than %(limit)s MB, the most this Beffroi accepts.")
                    % {"limit": limit // (1024 * 1024)}
                )
            digest.update(chunk)
            temporary.write(chunk)
        temporary.flush()
        try:
            info = inspect_file(Path(temporary.name))
        except MediaError as error:
            raise UploadRefused(
                _("%(name)s: %(reason)s") % {"name": name or _("file"), "reason": _(str(error))}
            ) from error
        existing = MediaFile.objects.filter(organisation=organisation, sha256=digest.hexdigest()).first()
        if existing:
            return existing
        media = MediaFile(
            organisation=organisation,
            original_name=(name or getattr(uploaded, "name", "") or "")[:255],
            mime_type=info.mime_type,
            kind=info.kind,
            size=info.size,
            width=info.width,
            height=info.height,
            duration_s=info.duration_s,
            sha256=digest.hexdigest(),
            uploaded_by=uploaded_by,
        )
        temporary.seek(0)
        media.file.save("upload", File(temporary), save=True)
        return media

"""Public media addresses: networks that fetch media themselves (Instagram, Facebook) download files from here.
The token is unguessable; nothing else about the organisation is exposed."""

from __future__ import annotations

from django.http import FileResponse, Http404
from django.views.decorators.http import require_GET

from beffroi.media.models import EXTENSIONS, MediaFile


@require_GET
def public_file(request, token: str, extension: str):
    media = MediaFile.objects.filter(public_token=token).first()
    if media is None or EXTENSIONS.get(media.mime_type) != extension:
        raise Http404
    try:
        handle = media.file.open("rb")
    except FileNotFoundError as error:
        raise Http404 from error
    response = FileResponse(handle, content_type=media.mime_type)
    response["Content-Length"] = str(media.size)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "public, max-age=86400"
    return response

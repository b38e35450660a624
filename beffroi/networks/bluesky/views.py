"""The atproto OAuth client metadata document: its address is Beffroi's `client_id` on Bluesky (see oauth.py)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from beffroi.networks.bluesky import oauth


@require_GET
def client_metadata(request: HttpRequest) -> JsonResponse:
    from beffroi.channels import connecting

    response = JsonResponse(oauth.client_metadata(connecting.callback_uri("bluesky")))
    # Authorization servers fetch it and cache it themselves; a short cache here is enough.
    response["Cache-Control"] = "public, max-age=600"
    return response

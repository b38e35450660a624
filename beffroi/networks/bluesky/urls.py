from __future__ import annotations

from django.urls import path

from beffroi.networks.bluesky import views

urlpatterns = [
    path("client-metadata.json", views.client_metadata, name="bluesky_client_metadata"),
]

from django.apps import AppConfig


class MediaConfig(AppConfig):
    name = "beffroi.media"
    label = "media"

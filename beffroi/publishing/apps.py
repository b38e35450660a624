from django.apps import AppConfig


class PublishingConfig(AppConfig):
    name = "beffroi.publishing"
    label = "publishing"

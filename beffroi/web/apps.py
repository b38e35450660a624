from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "beffroi.web"
    label = "web"

from django.apps import AppConfig


class ChannelsConfig(AppConfig):
    name = "beffroi.channels"
    label = "channels"

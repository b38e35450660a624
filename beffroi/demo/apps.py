from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "beffroi.demo"
    label = "demo"

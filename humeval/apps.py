from django.apps import AppConfig


class HumevalConfig(AppConfig):
    """Project-wide parts that need Django set up: deployment checks and the admin's log-in form."""

    name = "humeval"
    verbose_name = "humeval"

    def ready(self):
        from django.contrib import admin

        from humeval import checks  # noqa: F401 (registers the checks)
        from humeval.login_forms import AdminLoginForm

        # The admin has its own log-in page; it shows the same message as
        # /accounts/login/ when log-ins are throttled.
        admin.site.login_form = AdminLoginForm

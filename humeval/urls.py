from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.utils.translation import gettext_lazy as _

from humeval.login_forms import LoginForm
from humeval.password_reset import PasswordResetView

# The admin's header and page titles name humeval instead of Django.
admin.site.site_header = _("humeval administration")
admin.site.site_title = _("humeval admin")

urlpatterns = [
    # Ahead of Django's own URLs: the log-in form that reports throttling, and
    # the reset page that limits e-mails and sends them as plain text.
    path("accounts/login/", auth_views.LoginView.as_view(authentication_form=LoginForm), name="login"),
    # NOTE: the reset e-mail is sent while the request runs, so the response
    # time can hint whether an address has an account.
    path("accounts/password_reset/", PasswordResetView.as_view(), name="password_reset"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("api/", include("humeval.api_urls")),
    path("reports/", include("reports.urls")),
    path("", include("annotate.urls")),
]

# Django's 400 page, except for a session save that found SQLite busy (humeval.database_busy).
handler400 = "humeval.database_busy.bad_request"

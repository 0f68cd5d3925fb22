from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("accounts/", include("django.contrib.auth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("api/", include("humeval.api_urls")),
    path("reports/", include("reports.urls")),
    path("", include("annotate.urls")),
]

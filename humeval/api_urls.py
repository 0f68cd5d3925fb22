"""URLs under /api/: the REST API under v1/, the OpenAPI schema and its Swagger UI.

Each app's `api` module has a `register_routes(router)` function that adds
its viewsets to the one router here. To add an app's endpoints, import its
`register_routes` and call it below.
"""

from django.http import HttpResponsePermanentRedirect
from django.urls import Resolver404, include, path, re_path, resolve
from django.utils.translation import gettext
from django.views.decorators.debug import sensitive_post_parameters
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.decorators import api_view, permission_classes
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.routers import DefaultRouter

from annotate.api import register_routes as register_annotate_routes
from generation.api import register_routes as register_generation_routes
from humeval.api_token import ObtainTokenView
from reports.api import register_routes as register_report_routes

# Path converters (<uuid:uuid>) instead of regular expressions, so a
# malformed UUID in a URL never reaches a view. No ".json" URL suffixes:
# the Accept header chooses between JSON and the browsable API.
router = DefaultRouter(use_regex_path=False)
router.include_format_suffixes = False
register_generation_routes(router)
register_annotate_routes(router)
register_report_routes(router)


@extend_schema(exclude=True)
@api_view(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])
@permission_classes([AllowAny])
def not_found(request, *args, **kwargs):
    """Return the API's JSON 404 body for unknown URLs under /api/, instead of Django's HTML page.

    A known URL without its trailing slash is redirected to the slash form
    for GET and HEAD. Other methods get a 404 that names the right URL,
    because clients resend a redirected write inconsistently.
    """
    slashed = _with_trailing_slash(request.path_info)
    if slashed is None:
        raise NotFound()
    location = request.get_full_path().replace(request.path_info, slashed, 1)
    if request.method in ("GET", "HEAD"):
        return HttpResponsePermanentRedirect(location)
    raise NotFound(gettext("This URL needs a trailing slash: %(url)s") % {"url": location})


def _with_trailing_slash(path: str) -> str | None:
    """Return `path` with a slash appended when that names an API endpoint, else None."""
    if path.endswith("/"):
        return None
    try:
        match = resolve(path + "/")
    except Resolver404:
        return None
    if match.url_name == "not-found":
        return None
    return path + "/"


app_name = "api"
urlpatterns = [
    # sensitive_post_parameters: Django's error reports show the password as stars.
    path("v1/auth/token/", sensitive_post_parameters("password")(ObtainTokenView.as_view()), name="token"),
    path("v1/", include(router.urls)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api:schema", template_name="api/swagger_ui.html"),
        name="docs",
    ),
    re_path(r"^.*$", not_found, name="not-found"),
]

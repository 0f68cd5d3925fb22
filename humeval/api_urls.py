"""URLs under /api/: the REST API under v1/, the OpenAPI schema and its Swagger UI.

Each app's `api` module has a `register_routes(router)` function that adds
its viewsets to the one router here. To add an app's endpoints, import its
`register_routes` and call it below.
"""

from django.urls import include, path, re_path
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.decorators import api_view, permission_classes
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.routers import DefaultRouter

from annotate.api import register_routes as register_annotate_routes
from generation.api import register_routes as register_generation_routes
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
@api_view(["GET", "POST", "PUT", "PATCH", "DELETE"])
@permission_classes([AllowAny])
def not_found(request, *args, **kwargs):
    """Return the API's JSON 404 body for unknown URLs under /api/, instead of Django's HTML page."""
    raise NotFound()


app_name = "api"
urlpatterns = [
    path("v1/", include(router.urls)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    re_path(r"^.*$", not_found, name="not-found"),
]

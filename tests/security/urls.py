"""The project's URLs plus one view that fails, to test the headers of the 500 page."""

from django.urls import path

from humeval.urls import urlpatterns as project_urlpatterns


def broken_view(request):
    raise RuntimeError("a bug in a view")


urlpatterns = [path("test-only/broken/", broken_view), *project_urlpatterns]

"""humeval's URLs plus one empty page, for benchmarks/request_floor.py.

A request to /floor/ passes through everything an annotator's request
passes through around a view: humeval's middleware, the session and user
reads, the log-in check and, on POST, CSRF. Its view does nothing: GET
returns a form with a CSRF token and POST redirects back. Two such requests
are the least that an annotator's cycle (open a task, post its form) can
cost in this stack.
"""

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect
from django.urls import path

from humeval.urls import urlpatterns as site_urlpatterns


@login_required
def empty_page(request):
    if request.method == "POST":
        return redirect("/floor/")
    token = get_token(request)
    return HttpResponse(f'<form method="post"><input name="csrfmiddlewaretoken" value="{token}"></form>')


urlpatterns = [path("floor/", empty_page), *site_urlpatterns]

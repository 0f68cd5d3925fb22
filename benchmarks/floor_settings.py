"""Settings for benchmarks/request_floor.py: humeval's own, with floor_urls as the URLs.

gunicorn loads them with DJANGO_SETTINGS_MODULE=floor_settings; they are not
part of the deployed site.
"""

from humeval.settings import *  # noqa: F403 - the deployed settings, unchanged but for the URLs

ROOT_URLCONF = "floor_urls"

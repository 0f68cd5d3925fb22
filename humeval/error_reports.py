"""Filter for Django's error reports (the DEBUG error page, error e-mails) that hides more secrets.

Django's own filter replaces settings and request.META entries whose name
contains API, AUTH, TOKEN, KEY, SECRET, PASS, SIGNATURE or HTTP_COOKIE with
stars. humeval's connection URLs carry passwords under other names:
DATABASE_URL, CELERY_BROKER_URL, HUMEVAL_CACHE_URL and the cache's LOCATION.
Under `runserver` the whole process environment is in request.META, so they
would show on the DEBUG error page.

Django also hides POST parameters marked with sensitive_post_parameters and
variables marked with sensitive_variables, but only with DEBUG off.
"""

import re

from django.views.debug import SafeExceptionReporterFilter


class ExceptionReporterFilter(SafeExceptionReporterFilter):
    hidden_settings = re.compile(
        "API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|DATABASE_URL|BROKER_URL|CACHE_URL|LOCATION",
        flags=re.IGNORECASE,
    )

    def is_active(self, request):
        """Hide marked POST parameters and variables on the DEBUG page too, not only when DEBUG is off.

        Django's filter shows them with DEBUG on; a demo started with
        HUMEVAL_DEBUG=1 on a shared machine would then show passwords to
        whoever sees the error page.
        """
        return True

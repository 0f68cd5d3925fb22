"""The API's token endpoint: trade a username and password for the user's API token.

Log-in throttling applies here as on the log-in page, through the
authentication backend, and DRF's anonymous rate limit applies on top.
"""

from django.contrib.auth import authenticate
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from humeval import login_throttle
from humeval.api import RejectUnknownFieldsMixin


class TokenRequestSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    username = serializers.CharField(help_text=_("The account's username."))
    password = serializers.CharField(
        trim_whitespace=False, style={"input_type": "password"}, help_text=_("The account's password.")
    )


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text=_('Send it as "Authorization: Token <token>" with each request.'))


class ObtainTokenView(APIView):
    """Return the user's API token, made on first use, for a valid username and password."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [AnonRateThrottle]

    @extend_schema(
        request=TokenRequestSerializer,
        responses={200: TokenSerializer},
        auth=[],
        summary="Get an API token",
        description=(
            "Returns the same token on every call until it is deleted in the admin or with "
            "`manage.py drf_create_token -r`. After too many failed attempts for a username or from "
            "one address, requests get 429 with a Retry-After header."
        ),
    )
    # The serializer's repr shows the posted password; error reports show stars instead.
    @sensitive_variables()
    def post(self, request):
        serializer = TokenRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        username = serializer.validated_data["username"]

        wait = login_throttle.seconds_until_allowed(request, username)
        if wait:
            raise exceptions.Throttled(wait=wait, detail=gettext("Too many failed log-in attempts. Try again later."))

        user = authenticate(request, username=username, password=serializer.validated_data["password"])
        if user is None:
            raise exceptions.ValidationError(
                _("Unable to log in with the username and password given."), code="authorization"
            )
        token, _created = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})

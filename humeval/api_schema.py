"""The OpenAPI schema class of the REST API: drf-spectacular's, with the shared error body documented.

It lives apart from `humeval.api` because drf-spectacular imports DRF's
generic views, which read the REST_FRAMEWORK settings that name classes in
`humeval.api`.
"""

from django.utils.translation import gettext_lazy as _
from drf_spectacular import openapi
from rest_framework import serializers

# Error responses every operation may give; each view documents its 409 itself.
_ERROR_STATUS_CODES = ("400", "401", "403", "404")


class ErrorItemSerializer(serializers.Serializer):
    field = serializers.CharField(allow_null=True, help_text=_("Request field at fault; null for the whole request."))
    message = serializers.CharField()
    code = serializers.CharField(help_text=_("Machine-readable error code, such as invalid or not_found."))
    line = serializers.IntegerField(required=False, help_text=_("Line of an uploaded file."))
    index = serializers.IntegerField(required=False, help_text=_("Element of an uploaded JSON array."))


class ErrorSerializer(serializers.Serializer):
    """The body of every error response: a summary and one entry per problem."""

    detail = serializers.CharField()
    errors = ErrorItemSerializer(many=True)


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's schema, with the shared error body documented for 400, 401, 403 and 404."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code in _ERROR_STATUS_CODES:
            if code not in responses:
                responses[code] = self._get_response_for_code(ErrorSerializer, code, direction=direction)
        return responses

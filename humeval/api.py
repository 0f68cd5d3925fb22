"""Shared parts of the REST API: error body, pagination, permissions and fields.

Every error response has one shape, whatever raised it:

    {
      "detail": "temperature: Temperature must be a finite number of 0 or more; 0 means greedy decoding.",
      "errors": [
        {"field": "temperature", "message": "Temperature must be ...", "code": "invalid"}
      ]
    }

`detail` is one sentence to show a person. `errors` lists every problem:
`field` is the request field at fault (a dotted path with [index] for nested
values, such as `stop_strings[1]`), or null when the error concerns the whole
request. Errors in an uploaded file also carry `line` (or `index` for an
element of a JSON array) when the problem is on one line.
"""

import difflib
import re
import uuid
from collections.abc import Mapping

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, parsers, serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from humeval import policy

# Prefix of an import error that sits on one line or JSON array element, as
# generation.prompt_import and generation.response_import write them.
_LOCATION = re.compile(r"^(line|index) (\d+):")


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, but a body nested too deeply for Python's parser is a 400, not a server error."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError(
                gettext("JSON parse error - the body is nested too deeply; send objects a few levels deep.")
            ) from None


class RejectUnknownFieldsMixin:
    """Make a serializer reject request fields it does not declare, instead of dropping them.

    DRF ignores unknown keys, so a misspelt setting such as "temprature"
    would be lost without a word and the default used. Read-only fields are
    declared, so sending back what a GET returned stays valid. The CSRF
    token of the browsable API's HTML forms is not a field and is ignored.
    """

    ignored_fields = ("csrfmiddlewaretoken",)

    def to_internal_value(self, data):
        unknown = self._unknown_field_errors(data)
        try:
            value = super().to_internal_value(data)
        except exceptions.ValidationError as exc:
            if unknown and isinstance(exc.detail, dict):
                exc.detail.update(unknown)
            raise
        if unknown:
            raise exceptions.ValidationError(unknown)
        return value

    def _unknown_field_errors(self, data) -> dict:
        if not isinstance(data, Mapping):
            return {}
        known = list(self.fields)
        errors = {}
        for key in data:
            if key in self.fields or key in self.ignored_fields:
                continue
            close = difflib.get_close_matches(str(key), known, n=1)
            if close:
                message = gettext("Unknown field; did you mean “%(field)s”?") % {"field": close[0]}
            else:
                message = gettext("Unknown field; the fields are: %(fields)s.") % {"fields": ", ".join(known)}
            errors[key] = [exceptions.ErrorDetail(message, code="unknown_field")]
        return errors


class Pagination(PageNumberPagination):
    """Pages of 50 items; the `page_size` query parameter sets another size, up to 500."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class CanManageGeneration(BasePermission):
    """Allow site admins and study managers to manage models, prompt sets and generation runs.

    These objects are shared by every study, so the table in humeval.policy
    grants them whole, without a per-study scope; deleting is for site admins.
    """

    message = _("Only site admins and study managers may manage models, prompt sets and generation runs.")

    def has_permission(self, request, view):
        action = policy.Action.VIEW if request.method in SAFE_METHODS else policy.Action.CHANGE
        if request.method == "POST":
            action = policy.Action.CREATE
        elif request.method == "DELETE":
            action = policy.Action.DELETE
        return policy.allows(request.user, action, policy.Kind.GENERATION)


class Conflict(exceptions.APIException):
    """The request is valid but clashes with the object's current state, such as starting a running run."""

    status_code = 409
    default_detail = _("The request conflicts with the current state of the object.")
    default_code = "conflict"


class InvalidUpload(exceptions.APIException):
    """An uploaded file failed validation; `messages` lists each problem, most starting with its line."""

    status_code = 400
    default_code = "invalid_file"

    def __init__(self, file_name: str, messages: list[str], field: str = "file"):
        self.file_name = file_name
        self.messages = [str(message) for message in messages]
        self.field = field
        count = len(self.messages)
        detail = ngettext(
            "%(file)s: %(count)d error, nothing imported.",
            "%(file)s: %(count)d errors, nothing imported.",
            count,
        ) % {"file": file_name, "count": count}
        super().__init__(detail=detail)


class UUIDRelatedField(serializers.SlugRelatedField):
    """Refer to a related object by its public UUID; a malformed UUID is a field error, not a server error."""

    default_error_messages = {
        "does_not_exist": _("No object with UUID {value}."),
        "invalid": _("Must be a UUID, such as 0b5c5b8e-1f0e-4d43-9a3e-2f3c1c9d2a10."),
    }

    def __init__(self, **kwargs):
        super().__init__(slug_field="uuid", **kwargs)

    def to_internal_value(self, data):
        try:
            value = uuid.UUID(str(data))
        except ValueError:
            self.fail("invalid")
        return super().to_internal_value(value)


class RequestTooLarge(exceptions.APIException):
    """The request body, apart from uploaded files, exceeds DATA_UPLOAD_MAX_MEMORY_SIZE."""

    status_code = 413
    default_code = "request_too_large"


def _request_limit_error(exc) -> exceptions.APIException | None:
    """Turn Django's request size and field count limits into API errors; Django alone would return an HTML page."""
    if isinstance(exc, RequestDataTooBig):
        return RequestTooLarge(
            gettext(
                "The request body is larger than %(limit)d bytes; send data as an uploaded file, "
                "which has a limit of its own."
            )
            % {"limit": settings.DATA_UPLOAD_MAX_MEMORY_SIZE}
        )
    if isinstance(exc, TooManyFieldsSent):
        return exceptions.ParseError(
            gettext("The request has more than %(limit)d fields.") % {"limit": settings.DATA_UPLOAD_MAX_NUMBER_FIELDS}
        )
    if isinstance(exc, TooManyFilesSent):
        return exceptions.ParseError(
            gettext("The request has more than %(limit)d files.") % {"limit": settings.DATA_UPLOAD_MAX_NUMBER_FILES}
        )
    return None


def exception_handler(exc, context):
    """Build DRF's error response, then rewrite its body into the `detail` plus `errors` shape."""
    exc = _request_limit_error(exc) or exc
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, InvalidUpload):
        errors = [_upload_error(exc.field, message) for message in exc.messages]
        response.data = {"detail": str(exc.detail), "errors": errors}
    elif isinstance(exc, exceptions.ValidationError):
        errors = _flatten(exc.detail, path="")
        response.data = {"detail": _summary(errors), "errors": errors}
    else:
        detail = response.data.get("detail", "") if isinstance(response.data, dict) else ""
        code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
        response.data = {"detail": str(detail), "errors": [{"field": None, "message": str(detail), "code": code}]}
    return response


def _flatten(detail, path: str) -> list[dict]:
    """Turn DRF's nested validation detail into a flat list of {field, message, code}."""
    if isinstance(detail, dict):
        errors = []
        for key, value in detail.items():
            errors.extend(_flatten(value, _join(path, key)))
        return errors
    if isinstance(detail, list):
        errors = []
        for index, value in enumerate(detail):
            if isinstance(value, dict | list):
                # A list of nested objects or lists: each element has its own index.
                errors.extend(_flatten(value, f"{path}[{index}]"))
            else:
                errors.append(_error(path, value))
        return errors
    return [_error(path, detail)]


def _join(path: str, key) -> str:
    if key == api_settings.NON_FIELD_ERRORS_KEY:
        return path
    if isinstance(key, int):
        # ListField and DictField report element errors under integer keys.
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def _error(path: str, message) -> dict:
    return {"field": path or None, "message": str(message), "code": getattr(message, "code", "invalid")}


def _upload_error(field: str, message: str) -> dict:
    error = {"field": field, "message": message, "code": "invalid_file"}
    match = _LOCATION.match(message)
    if match:
        error[match.group(1)] = int(match.group(2))
    return error


def _summary(errors: list[dict]) -> str:
    """Return the first error as "field: message", noting how many more there are."""
    if not errors:
        return str(_("Invalid input."))
    first = errors[0]
    text = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
    more = len(errors) - 1
    if more:
        text = ngettext("%(first)s (and %(count)d more error)", "%(first)s (and %(count)d more errors)", more) % {
            "first": text,
            "count": more,
        }
    return text

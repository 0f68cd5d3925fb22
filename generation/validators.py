"""Field validators for decoding and worker settings."""

import math
import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _


def validate_temperature(value):
    if not math.isfinite(value) or value < 0:
        raise ValidationError(_("Temperature must be a finite number of 0 or more; 0 means greedy decoding."))


def validate_top_p(value):
    if not math.isfinite(value) or not 0 < value <= 1:
        raise ValidationError(_("Top p must be greater than 0 and at most 1."))


def validate_repetition_penalty(value):
    if not math.isfinite(value) or value <= 0:
        raise ValidationError(_("Repetition penalty must be a finite number greater than 0; 1 means none."))


def validate_max_new_tokens(value):
    if value < 1:
        raise ValidationError(_("Max new tokens must be at least 1."))


def validate_queue_name(value):
    # Celery and Redis accept almost any string, but a name with spaces or
    # shell characters breaks the `celery worker -Q` command line that serves it.
    if value and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}", value):
        raise ValidationError(
            _("A worker queue name uses letters, digits and . _ : - only, and starts with a letter or digit.")
        )

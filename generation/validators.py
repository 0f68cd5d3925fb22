"""Field validators for decoding settings."""

import math

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

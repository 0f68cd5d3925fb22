"""Find models, prompt sets and runs by the name or UUID a user typed."""

import uuid

from django.core.exceptions import ObjectDoesNotExist


class NotFound(Exception):
    """No object of that kind has the given name or UUID."""


def get_by_name(model_class, value: str, field: str = "name"):
    """Return the object whose `field` or UUID equals `value`; raise NotFound otherwise."""
    queryset = model_class.objects.all()
    try:
        return queryset.get(uuid=uuid.UUID(value))
    except (ValueError, ObjectDoesNotExist):
        pass
    try:
        return queryset.get(**{field: value})
    except ObjectDoesNotExist:
        names = ", ".join(repr(v) for v in queryset.values_list(field, flat=True)[:20]) or "none yet"
        kind = model_class._meta.verbose_name
        raise NotFound(f"No {kind} named {value!r}. Known: {names}.") from None

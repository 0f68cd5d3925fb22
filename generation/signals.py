"""Signals the generation app sends for other apps to act on.

`deleted_in_admin` is sent just before an admin user deletes objects, with
`user` (the request's user) and `objects` (a list of the model instances),
inside the transaction that deletes them. The annotate app records these
deletions in its audit log; generation itself does not import annotate.
"""

from django.dispatch import Signal

deleted_in_admin = Signal()

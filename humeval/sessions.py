"""Django's database sessions, with the read that every request makes in hand-written SQL.

Each signed-in request reads its session row. Through the ORM that read took
about 0.3 ms of CPU, against about 0.13 ms for the same SELECT written out
(2-core AMD EPYC, Python 3.11, PostgreSQL 15; docs/benchmarks.md,
"Annotation load"). Everything else is Django's database backend unchanged: sessions
live only in the database, so logging out, or deleting a user's session rows
(annotate.erasure), ends the session in every web process at once.
"""

from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.db import connection
from django.utils import timezone

from humeval.prepared import prepared


class SessionStore(DatabaseSessionStore):
    def _get_session_from_db(self):
        table = self.model._meta.db_table
        sql = f"SELECT * FROM {table} WHERE session_key = %s AND expire_date > %s"
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        session = next(iter(self.model.objects.raw(prepared(sql), [self.session_key, now])), None)
        if session is None:
            self._session_key = None
        return session

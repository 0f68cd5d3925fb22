"""humeval.prepared prepares each statement once per PostgreSQL connection and passes SQL through elsewhere."""

import pytest
from django.db import connection

from humeval import prepared as prepared_module
from humeval.prepared import prepared

pytestmark = pytest.mark.django_db

SQL = "SELECT %s::integer + id FROM auth_user WHERE id > %s ORDER BY id"


def _statement_names() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements")
        return {row[0] for row in cursor.fetchall()}


@pytest.fixture
def postgres():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://USER@HOST:PORT/NAME to run")


def test_other_databases_run_sql_as_given():
    if connection.vendor == "postgresql":
        pytest.skip("tests the databases other than PostgreSQL")

    assert prepared(SQL) == SQL


def test_turned_off_runs_sql_as_given(settings):
    settings.PREPARED_STATEMENTS = False

    assert prepared(SQL) == SQL


def test_literal_percent_rejected(postgres):
    with pytest.raises(ValueError, match="percent"):
        prepared("SELECT 'a' LIKE 'a%%' AND id = %s FROM auth_user")


def test_execute_returns_same_rows(postgres, django_user_model):
    users = [django_user_model.objects.create_user(f"prepared{number}") for number in range(3)]
    with connection.cursor() as cursor:
        cursor.execute(SQL, [10, users[0].pk])
        expected = cursor.fetchall()
        cursor.execute(prepared(SQL), [10, users[0].pk])
        rows = cursor.fetchall()

    assert prepared(SQL).startswith("EXECUTE humeval_")
    assert rows == expected
    assert rows == [(10 + user.pk,) for user in users[1:]]


def test_prepared_once_per_connection(postgres):
    name = prepared(SQL).split()[1].split("(")[0]
    prepared(SQL)

    assert name in _statement_names()
    assert len([statement for statement in _statement_names() if statement == name]) == 1


@pytest.mark.django_db(transaction=True)
def test_reconnect_prepares_on_new_session(postgres):
    statement = prepared(SQL)
    name = statement.split()[1].split("(")[0]

    connection.close()
    assert name not in _statement_names()
    with connection.cursor() as cursor:
        cursor.execute(prepared(SQL), [1, 0])
        cursor.fetchall()

    assert name in _statement_names()


def test_statement_survives_rollback(postgres):
    from django.db import transaction

    class Rollback(Exception):
        pass

    with pytest.raises(Rollback), transaction.atomic():
        statement = prepared(SQL)
        raise Rollback

    with connection.cursor() as cursor:
        cursor.execute(statement, [1, 0])
        cursor.fetchall()


def test_statement_parts_number_parameters():
    name, prepare, execute = prepared_module._statement_parts("SELECT %s, %s FROM t WHERE a = %s")

    assert prepare == f"PREPARE {name} AS SELECT $1, $2 FROM t WHERE a = $3"
    assert execute == f"EXECUTE {name}(%s, %s, %s)"


def test_request_session_and_user_reads_prepared(postgres, client, django_user_model):
    user = django_user_model.objects.create_user("prepared-reader", password="a-long-password-1")
    client.force_login(user)

    response = client.get("/")

    assert response.status_code == 200
    assert response.wsgi_request.user == user
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        statements = [row[0] for row in cursor.fetchall()]
    assert any("FROM django_session WHERE session_key = $1" in statement for statement in statements)
    assert any("FROM auth_user WHERE id = $1" in statement for statement in statements)

"""Build model instances from rows of hand-written SQL, and insert new ones, at less CPU than the ORM.

`Model.objects.raw()` builds one model per row. The annotator's task lookup
(annotate.access) reads an assignment, its item and the item's prompt in one
query, so it selects each model's columns in turn with `select_list` and
splits the row with `instances_from_row`. `fetch_instances` does the same
for queries of one model, at less CPU than `raw()`. Each value goes through the
converters the ORM would apply: JSON decoding on PostgreSQL, and on SQLite
also UUIDs, booleans and datetimes. `insert_instances` writes new rows.
"""

import functools

from django.db import DEFAULT_DB_ALIAS, connection, connections

from humeval.prepared import prepared


def select_list(model, alias: str) -> str:
    """Return the SQL select list of every concrete column of `model`, read from the table named `alias`."""
    quote = connection.ops.quote_name
    return ", ".join(f"{alias}.{quote(field.column)}" for field in model._meta.concrete_fields)


def instances_from_row(models: list, row) -> list:
    """Return one instance of each model in `models`, built from consecutive columns of `row`.

    The columns must be in the order of `select_list` for each model.
    """
    instances = []
    start = 0
    for model in models:
        fields = model._meta.concrete_fields
        values = list(row[start : start + len(fields)])
        for index, column, converters in _converters(model):
            for converter in converters:
                values[index] = converter(values[index], column, connection)
        instances.append(model.from_db(connection.alias, [field.attname for field in fields], values))
        start += len(fields)
    return instances


def fetch_instances(model, sql: str, parameters: list) -> list:
    """Run `sql`, which selects `select_list(model, ...)`, and return one instance of `model` per row.

    It costs less CPU than `model.objects.raw()`, which maps the columns to
    the model's fields anew on every query, and the annotator's path runs
    several such queries per request.
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, parameters)
        rows = cursor.fetchall()
    return [instances_from_row([model], row)[0] for row in rows]


def _converters(model) -> list:
    """Return (column index, column, converters) for each column of `model` that has converters.

    The task lookup runs on every task page and submit, so the lists are
    built once and kept on the connection (one per thread), instead of
    asking each field for its converters on every row.
    """
    # django.db.connection is a proxy shared by all threads; the wrapper
    # behind it belongs to this thread.
    cache = connections[DEFAULT_DB_ALIAS].__dict__.setdefault("_humeval_row_converters", {})
    found = cache.get(model)
    if found is None:
        found = []
        for index, field in enumerate(model._meta.concrete_fields):
            column = field.cached_col
            converters = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
            if converters:
                found.append((index, column, converters))
        cache[model] = found
    return found


def insert_instances(instances: list) -> None:
    """INSERT new instances of one model in one statement, as `save()` or `bulk_create()` would, and set their pks.

    Each value goes through the field's pre_save and get_db_prep_save, as
    Django's insert compiler does, so defaults, `auto_now_add` and type
    adaptation come out the same. Building the statement through the ORM
    took more CPU than running it on the annotator's submit, which inserts
    a judgment, its answers and the next assignment every time. Model
    signals are not sent.
    NOTE: a pre_save or post_save receiver added for these models would be
    skipped; annotate.assignment is the only caller.
    """
    model = type(instances[0])
    fields, sql = _insert_sql(model, len(instances))
    parameters = [
        field.get_db_prep_save(field.pre_save(instance, True), connection) for instance in instances for field in fields
    ]
    with connection.cursor() as cursor:
        cursor.execute(prepared(sql) if len(instances) == 1 else sql, parameters)
        if connection.features.can_return_columns_from_insert:
            keys = [row[0] for row in cursor.fetchall()]
        else:
            keys = [connection.ops.last_insert_id(cursor, model._meta.db_table, model._meta.pk.column)]
    for instance, key in zip(instances, keys, strict=True):
        instance.pk = key
        instance._state.adding = False
        instance._state.db = connection.alias


@functools.lru_cache(maxsize=64)
def _insert_sql(model, rows: int) -> tuple[list, str]:
    """Return the fields that an INSERT of `rows` rows of `model` writes, and its SQL."""
    if rows > 1 and not connection.features.can_return_columns_from_insert:
        raise ValueError("This database cannot return the keys of a multi-row INSERT.")
    quote = connection.ops.quote_name
    fields = [field for field in model._meta.local_concrete_fields if field is not model._meta.auto_field]
    columns = ", ".join(quote(field.column) for field in fields)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES {', '.join([row] * rows)}"
    if connection.features.can_return_columns_from_insert:
        sql += f" RETURNING {quote(model._meta.pk.column)}"
    return fields, sql

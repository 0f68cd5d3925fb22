"""Build model instances from one row of hand-written SQL that selects several models.

`Model.objects.raw()` builds one model per row. The annotator's task lookup
(annotate.access) reads an assignment, its item and the item's prompt in one
query, so it selects each model's columns in turn with `select_list` and
splits the row with `instances_from_row`. Each value goes through the
converters the ORM would apply: JSON decoding on PostgreSQL, and on SQLite
also UUIDs, booleans and datetimes.
"""

from django.db import connection


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
        for index, field in enumerate(fields):
            column = field.cached_col
            converters = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
            for converter in converters:
                values[index] = converter(values[index], column, connection)
        instances.append(model.from_db(connection.alias, [field.attname for field in fields], values))
        start += len(fields)
    return instances

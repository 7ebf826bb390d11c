"""Bulk inserts that skip rows already stored: COPY into a staging table, then one INSERT … SELECT.

COPY parses rows far faster than an INSERT of parameter arrays (ingestion: about 3× per batch of
1,000 events). The rows go into a temporary staging table of the connection (created once per
session, ``ON COMMIT DELETE ROWS``), then one statement deletes them from it and inserts them with
``ON CONFLICT DO NOTHING``, so the staging table is empty after every call, even inside a longer
transaction, and the row count is the number of new rows. Rows are inserted in the order of
``order_by``: concurrent calls take their unique-index locks in one order and cannot deadlock.
"""

from collections.abc import Iterable

from django.db import connections, router, transaction


def _stage_sql(model, columns: list[str], connection) -> tuple[str, str, str]:
    quote = connection.ops.quote_name
    meta = model._meta
    stage = quote(f"{meta.db_table}_stage")
    fields = [meta.get_field(name) for name in columns]
    create = "CREATE TEMPORARY TABLE IF NOT EXISTS {} ({}) ON COMMIT DELETE ROWS".format(
        stage, ", ".join(f"{quote(field.column)} {field.db_type(connection)}" for field in fields)
    )
    copy = "COPY {} ({}) FROM STDIN".format(stage, ", ".join(quote(field.column) for field in fields))
    return stage, create, copy


def copy_insert_new(
    *,
    model,
    columns: list[str],
    rows: Iterable[tuple],
    constants: dict,
    unique: tuple[str, ...],
    order_by: str,
) -> int:
    """Insert ``rows`` (tuples of the ``columns`` fields' database values) with ``constants`` (field
    name → value, the same for every row) into ``model``'s table, skipping each row whose ``unique``
    fields match a stored row or an earlier row of the call. Returns the number of rows inserted.

    PostgreSQL only (``ON CONFLICT`` needs a unique index or constraint on ``unique``); inside a
    transaction (a savepoint of the caller's, or its own)."""
    connection = connections[router.db_for_write(model)]
    if connection.vendor != "postgresql":
        raise NotImplementedError("copy_insert_new needs PostgreSQL")
    quote = connection.ops.quote_name
    meta = model._meta
    stage, create, copy = _stage_sql(model, columns, connection)
    constant_fields = [meta.get_field(name) for name in constants]
    targets = [*(meta.get_field(name).column for name in columns), *(f.column for f in constant_fields)]
    move = (  # noqa: S608 (quoted model names)
        "WITH staged AS (DELETE FROM {stage} RETURNING *) "
        "INSERT INTO {table} ({targets}) SELECT {selected} FROM staged ORDER BY {order} "
        "ON CONFLICT ({unique}) DO NOTHING"
    ).format(
        stage=stage,
        table=quote(meta.db_table),
        targets=", ".join(quote(column) for column in targets),
        selected=", ".join(
            [*(quote(meta.get_field(name).column) for name in columns), *["%s"] * len(constants)]
        ),
        order=quote(meta.get_field(order_by).column),
        unique=", ".join(quote(meta.get_field(name).column) for name in unique),
    )
    params = [
        field.get_db_prep_save(value, connection)
        for field, value in zip(constant_fields, constants.values(), strict=True)
    ]
    with transaction.atomic(using=connection.alias):
        connection.ensure_connection()
        with connection.connection.cursor() as cursor:
            cursor.execute(create)
            with cursor.copy(copy) as writer:
                for row in rows:
                    writer.write_row(row)
            cursor.execute(move, params)
            return cursor.rowcount

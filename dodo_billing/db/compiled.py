"""Queries compiled to SQL once per connection, then run with new values as prepared statements.

Billing and the ledger run the same reads for every subscription-period and every write, and
building and compiling a queryset costs the ORM several times what PostgreSQL needs to run it
(billing's locking query: about 1 ms of Python to compile, 0.3 ms to run). See
docs/decisions/0002-postgresql-fast-paths.md for the measurements.

``settings.DB_PREPARED_STATEMENTS`` (default on) sends each compiled statement once per connection
as a server-side prepared statement (``PREPARE``) and then runs it with ``EXECUTE``. Turn it off
behind a pooler in transaction mode (PgBouncer ``pool_mode = transaction``), which hands each
transaction another server session where the statement was never prepared; the compiled SQL is
then sent as it is, still without building a queryset.
"""

import itertools
import logging
import re
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, connections, transaction
from django.db.models.query import get_related_populators
from psycopg import errors as pg_errors

logger = logging.getLogger(__name__)


class CompiledQuery:
    """A queryset compiled to SQL once per database connection and shape, then run with new values.

    Billing runs the same reads for every subscription-period, and building and compiling a
    queryset costs the ORM several times what PostgreSQL needs to run it (billing's locking query:
    about 1 ms of Python to compile, 0.3 ms to run). ``build(shape, **values)`` returns the
    queryset. The first run per connection and ``key`` builds it with placeholder ``values`` and
    compiles it; every run then puts its own values where the placeholders are among the
    statement's parameters, runs it, and turns the rows into what the ORM would: model instances
    with their ``select_related`` objects, or for a ``values()`` query with annotations, one dict
    of the annotations per row.

    ``values`` must reach the statement unchanged (ids and other strings, aware datetimes) and must
    not change its SQL; whatever does (a meter's definition, a list's length) goes in ``shape``
    and ``key``. Only on PostgreSQL: other databases (SQLite adapts datetimes to text) simply run
    the queryset through the ORM.
    """

    MAX_SHAPES = 256  # per connection and query; past it the compiled shapes start over

    def __init__(self, name: str, build):
        self.name = name
        self.build = build

    def run(self, *, key=None, shape=None, using: str = "default", **values) -> list:
        connection = connections[using]
        if connection.vendor != "postgresql":
            return self._orm(self.build(shape, **values))
        shapes = connection.__dict__.setdefault("_dodo_compiled_queries", {}).setdefault(self.name, {})
        compiled = shapes.get(key)
        if compiled is None:
            if len(shapes) >= self.MAX_SHAPES:
                shapes.clear()
            placeholders = _placeholders(self.name, values)
            compiled = shapes[key] = _Compiled(self.build(shape, **placeholders), using, placeholders)
        return compiled.run(connection, values)

    def statement_names(self, *, using: str = "default") -> set[str]:
        """Names of this query's prepared statements on the connection (what ``EXECUTE`` names)."""
        shapes = connections[using].__dict__.get("_dodo_compiled_queries", {}).get(self.name, {})
        return {compiled.name for compiled in shapes.values()}

    @staticmethod
    def _orm(queryset) -> list:
        if queryset._fields is None:  # model instances, not values()
            return list(queryset)
        names = list(queryset.query.annotation_select)
        return [{name: row[name] for name in names} for row in queryset]


def _placeholders(name: str, values: dict) -> dict:
    """A value per parameter that cannot occur otherwise: NUL-marked strings (PostgreSQL text
    cannot hold NUL) and instants in the year 1000."""
    placeholders = {}
    for index, (parameter, value) in enumerate(sorted(values.items())):
        if isinstance(value, str):
            placeholders[parameter] = f"\x00{name}:{parameter}\x00"
        elif isinstance(value, datetime) and value.tzinfo is not None:
            placeholders[parameter] = datetime(1000, 1, 1, tzinfo=UTC) + timedelta(microseconds=index + 1)
        else:
            raise TypeError(f"{name}: {parameter} must be a string or an aware datetime, not {value!r}")
    return placeholders


_PLACEHOLDER = re.compile(r"%%|%s")
_statement_numbers = itertools.count(1)


class _Compiled:
    """One compiled statement: its SQL, parameters, where each value goes, how rows become objects.

    On a connection it is first sent as a server-side prepared statement (``PREPARE``, once per
    connection), then run with ``EXECUTE``: PostgreSQL then skips parsing and, for these indexed
    lookups, planning too (billing's locking query joins five tables: planning it took 0.8 ms of
    the database's CPU per period). Prepared statements live as long as the connection and are
    not undone by a rollback; if one is missing (the connection was reset), the statement fails
    once and every statement is prepared again on the next run."""

    def __init__(self, queryset, using: str, placeholders: dict):
        self.using = using
        self.compiler = queryset.query.get_compiler(using=using)
        self.sql, params = self.compiler.as_sql()
        self.params = list(params)
        self.slots = {}
        for parameter, placeholder in placeholders.items():
            positions = [index for index, param in enumerate(self.params) if param == placeholder]
            if not positions:
                raise ValueError(f"{parameter} did not become a parameter of the compiled statement")
            self.slots[parameter] = positions
        klass_info = self.compiler.klass_info
        self.model = klass_info["model"] if queryset._fields is None else None  # else values()
        if self.model is not None:
            select_fields = klass_info["select_fields"]
            self.fields = slice(select_fields[0], select_fields[-1] + 1)
            self.init_list = [column[0].target.attname for column in self.compiler.select[self.fields]]
            self.populators = get_related_populators(klass_info, self.compiler.select, using)
        else:
            wanted = set(queryset.query.annotation_select)
            self.columns = {
                name: index
                for name, index in (self.compiler.annotation_col_map or {}).items()
                if name in wanted
            }
        numbers = itertools.count(1)
        self.name = f"dodo_billing_{next(_statement_numbers)}"
        self.prepare = "PREPARE {} AS {}".format(
            self.name, _PLACEHOLDER.sub(lambda m: "%" if m[0] == "%%" else f"${next(numbers)}", self.sql)
        )
        self.execute = f"EXECUTE {self.name}({', '.join(['%s'] * len(self.params))})" if self.params else None
        self.preparable = self.execute is not None and getattr(settings, "DB_PREPARED_STATEMENTS", True)

    def _prepared(self, connection) -> bool:
        """Prepare the statement on this connection if it is not yet; False if it cannot be."""
        if not self.preparable:
            return False
        connection.ensure_connection()
        prepared = connection.__dict__.get("_dodo_prepared")
        if prepared is None or prepared[0] is not connection.connection:  # a new connection
            prepared = connection.__dict__["_dodo_prepared"] = (connection.connection, set())
        if self.name not in prepared[1]:
            try:
                with transaction.atomic(using=self.using), connection.cursor() as cursor:
                    cursor.execute(self.prepare)
            except DatabaseError as error:
                if not isinstance(error.__cause__, pg_errors.DuplicatePreparedStatement):
                    logger.warning("%s could not be prepared; it is sent as it is", self.name, exc_info=True)
                    self.preparable = False
                    return False
            prepared[1].add(self.name)
        return True

    def run(self, connection, values: dict) -> list:
        params = list(self.params)
        for parameter, positions in self.slots.items():
            for index in positions:
                params[index] = values[parameter]
        prepared = self._prepared(connection)
        with connection.cursor() as cursor:
            try:
                cursor.execute(self.execute if prepared else self.sql, params)
            except DatabaseError as error:
                if isinstance(error.__cause__, pg_errors.InvalidSqlStatementName):  # the session was reset
                    connection.__dict__.pop("_dodo_prepared", None)  # prepare again on the next run
                raise
            rows = self.compiler.results_iter([cursor.fetchall()])
        if self.model is None:
            return [{name: row[index] for name, index in self.columns.items()} for row in rows]
        objects = []
        for row in rows:
            obj = self.model.from_db(self.using, self.init_list, row[self.fields])
            for populator in self.populators:
                populator.populate(row, obj)
            objects.append(obj)
        return objects

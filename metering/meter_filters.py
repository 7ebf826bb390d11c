"""Meter filters: validation of the contract's ``MeterFilter`` and its translation to SQL.

A filter is ``{"conjunction": "and"|"or", "clauses": [...]}`` where ``clauses`` holds 1–10 items,
either all conditions ``{"key", "operator", "value"}`` or all nested filters (never a mix), nested
at most 3 levels deep (level-3 clauses are conditions).

Semantics (the same in SQL and in the tests' reference implementation):

- ``key`` names a metadata key of the event, without any prefix.
- A condition compares like with like, by the JSON type of the filter's ``value``:
  a number compares numerically with numeric metadata, a string compares with string metadata
  (by Unicode code point), a boolean with boolean metadata.
- A condition on a key the event lacks, or whose value has another JSON type, is false, for every
  operator (``not_equals`` and ``does_not_contain`` included): "if a filtered property is
  missing, that event will not match the meter".
- ``contains`` / ``does_not_contain`` take a string value and test for a substring,
  case-sensitively. Ordering operators take a number or a string, not a boolean.
"""

from decimal import Decimal

from django.db.models import BooleanField, DecimalField, Expression, F, Func, TextField

from dodo_billing.errors import InvalidRequestBody

CONJUNCTIONS = ("and", "or")
OPERATORS = (
    "equals",
    "not_equals",
    "greater_than",
    "greater_than_or_equals",
    "less_than",
    "less_than_or_equals",
    "contains",
    "does_not_contain",
)
MAX_DEPTH = 3
MAX_CLAUSES = 10
MAX_KEY_LENGTH = 100
MAX_STRING_VALUE_LENGTH = 500
ORDERING_OPERATORS = {
    "greater_than": ">",
    "greater_than_or_equals": ">=",
    "less_than": "<",
    "less_than_or_equals": "<=",
}
_CONDITION_FIELDS = {"key", "operator", "value"}
_FILTER_FIELDS = {"conjunction", "clauses"}


def _fail(path: str, message: str):
    raise InvalidRequestBody(f"{path}: {message}", extra={"errors": {path: [message]}})


def value_kind(value) -> str | None:
    """The JSON type a filter value or metadata value compares as: number, string or boolean."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    return None


def validate_metadata_key(key, path: str) -> str:
    if not isinstance(key, str) or not 1 <= len(key) <= MAX_KEY_LENGTH:
        _fail(path, f"must be a string of 1 to {MAX_KEY_LENGTH} characters.")
    if "\x00" in key:
        _fail(path, "must not contain the NUL character (\\u0000).")
    return key


def _validate_condition(data: dict, path: str) -> dict:
    extra = set(data) - _CONDITION_FIELDS
    if extra:
        _fail(path, f"a condition has only key, operator and value; unexpected {sorted(extra)}.")
    missing = _CONDITION_FIELDS - set(data)
    if missing:
        _fail(path, f"a condition needs {', '.join(sorted(missing))}.")
    key = validate_metadata_key(data["key"], f"{path}.key")
    operator = data["operator"]
    if operator not in OPERATORS:
        _fail(f"{path}.operator", f"must be one of {', '.join(OPERATORS)}.")
    value = data["value"]
    kind = value_kind(value)
    if kind is None:
        _fail(f"{path}.value", "must be a string, number or boolean.")
    if kind == "number" and isinstance(value, float) and value != value:  # NaN cannot come from JSON
        _fail(f"{path}.value", "must be a finite number.")
    if kind == "string" and len(value) > MAX_STRING_VALUE_LENGTH:
        _fail(f"{path}.value", f"may be at most {MAX_STRING_VALUE_LENGTH} characters.")
    if kind == "string" and "\x00" in value:
        _fail(f"{path}.value", "must not contain the NUL character (\\u0000).")
    if operator in ("contains", "does_not_contain") and kind != "string":
        _fail(f"{path}.value", f"{operator} compares strings: the value must be a string.")
    if operator in ORDERING_OPERATORS and kind == "boolean":
        _fail(f"{path}.value", f"{operator} needs a number or a string, not a boolean.")
    return {"key": key, "operator": operator, "value": value}


def _validate_filter(data, path: str, depth: int) -> dict:
    if not isinstance(data, dict):
        _fail(path, "must be an object with conjunction and clauses.")
    extra = set(data) - _FILTER_FIELDS
    if extra:
        _fail(path, f"a filter has only conjunction and clauses; unexpected {sorted(extra)}.")
    if data.get("conjunction") not in CONJUNCTIONS:
        _fail(f"{path}.conjunction", "must be 'and' or 'or'.")
    clauses = data.get("clauses")
    if not isinstance(clauses, list) or not 1 <= len(clauses) <= MAX_CLAUSES:
        _fail(f"{path}.clauses", f"must be a list of 1 to {MAX_CLAUSES} clauses.")
    kinds = set()
    for index, clause in enumerate(clauses):
        if not isinstance(clause, dict):
            _fail(f"{path}.clauses[{index}]", "must be a condition or a nested filter object.")
        is_condition = bool(_CONDITION_FIELDS & set(clause))
        is_filter = bool(_FILTER_FIELDS & set(clause))
        if is_condition == is_filter:
            _fail(
                f"{path}.clauses[{index}]", "must be either a condition (key, operator, value) or a filter."
            )
        kinds.add("condition" if is_condition else "filter")
    if len(kinds) > 1:
        _fail(f"{path}.clauses", "mixes conditions and nested filters; use one kind per clause list.")
    if "filter" in kinds and depth >= MAX_DEPTH:
        _fail(
            f"{path}.clauses", f"filters nest at most {MAX_DEPTH} levels; level {MAX_DEPTH} takes conditions."
        )
    if "filter" in kinds:
        validated = [_validate_filter(c, f"{path}.clauses[{i}]", depth + 1) for i, c in enumerate(clauses)]
    else:
        validated = [_validate_condition(c, f"{path}.clauses[{i}]") for i, c in enumerate(clauses)]
    return {"conjunction": data["conjunction"], "clauses": validated}


def validate_meter_filter(data, path: str = "filter") -> dict | None:
    """The normalized filter, or InvalidRequestBody naming the offending path. None = no filter."""
    if data is None:
        return None
    return _validate_filter(data, path, depth=1)


# --- SQL -----------------------------------------------------------------------------------------


class JsonScalar(Func):
    """``metadata[key]`` as a typed SQL value when its JSON type is ``kind``, else NULL."""

    _output = {"number": DecimalField, "string": TextField, "boolean": BooleanField}

    def __init__(self, key: str, kind: str, field: str = "metadata"):
        self.key, self.kind = key, kind
        super().__init__(F(field), output_field=self._output[kind]())

    def as_postgresql(self, compiler, connection, **extra):
        column, params = compiler.compile(self.source_expressions[0])
        jsonb_type = {"number": "number", "string": "string", "boolean": "boolean"}[self.kind]
        cast = {"number": "::numeric", "string": "", "boolean": "::boolean"}[self.kind]
        sql = (
            f"(CASE WHEN jsonb_typeof({column} -> %s::text) = '{jsonb_type}' "
            f"THEN ({column} ->> %s::text){cast} END)"
        )
        return sql, (*params, self.key, *params, self.key)

    def as_sqlite(self, compiler, connection, **extra):
        # json_each decodes keys, so every key works (a JSON path cannot address keys with quotes
        # or non-ASCII characters, which Django stores \u-escaped).
        column, params = compiler.compile(self.source_expressions[0])
        types, value = {
            "number": ("'integer', 'real'", "j.value"),
            "string": ("'text'", "j.value"),
            "boolean": ("'true', 'false'", "j.type = 'true'"),
        }[self.kind]
        # Only fixed SQL fragments and the compiled column are interpolated; the key is a parameter.
        sql = (
            f"(SELECT CASE WHEN j.type IN ({types}) THEN {value} END "  # noqa: S608
            f"FROM json_each({column}) AS j WHERE j.key = %s)"
        )
        return sql, (*params, self.key)

    def as_sql(self, compiler, connection, **extra):
        raise NotImplementedError(f"Meter filters support PostgreSQL and SQLite, not {connection.vendor}.")


class MeterFilterExpression(Expression):
    """A whole MeterFilter as one boolean SQL expression over the events table."""

    conditional = True
    output_field = BooleanField()

    def __init__(self, meter_filter: dict):
        super().__init__(output_field=BooleanField())
        self.meter_filter = meter_filter

    def resolve_expression(self, query=None, allow_joins=True, reuse=None, summarize=False, for_save=False):
        clone = self.copy()
        clone.is_summary = summarize
        clone._query = query
        return clone

    def _scalar_sql(self, compiler, connection, key, kind):
        scalar = JsonScalar(key, kind).resolve_expression(self._query)
        return compiler.compile(scalar)

    def _condition_sql(self, compiler, connection, condition):
        key, operator, value = condition["key"], condition["operator"], condition["value"]
        kind = value_kind(value)
        scalar, params = self._scalar_sql(compiler, connection, key, kind)
        postgres = connection.vendor == "postgresql"
        if kind == "number":
            value = Decimal(str(value)) if postgres else value
            placeholder = "%s::numeric" if postgres else "%s"
        elif kind == "boolean":
            placeholder = "%s::boolean" if postgres else "%s"
        else:
            placeholder = "%s::text" if postgres else "%s"
        if operator in ("contains", "does_not_contain"):
            find = "strpos({s}, %s::text)" if postgres else "instr({s}, %s)"
            test = "> 0" if operator == "contains" else "= 0"
            sql = f"{find.format(s=scalar)} {test}"
        else:
            symbol = {"equals": "=", "not_equals": "<>", **ORDERING_OPERATORS}[operator]
            collate = (
                ' COLLATE "C"' if postgres and kind == "string" and operator in ORDERING_OPERATORS else ""
            )
            sql = f"{scalar}{collate} {symbol} {placeholder}"
        # A missing key or another JSON type makes the comparison NULL: the condition is false.
        return f"COALESCE({sql}, FALSE)", (*params, value)

    def _filter_sql(self, compiler, connection, meter_filter):
        parts, params = [], []
        for clause in meter_filter["clauses"]:
            if "conjunction" in clause:
                sql, clause_params = self._filter_sql(compiler, connection, clause)
            else:
                sql, clause_params = self._condition_sql(compiler, connection, clause)
            parts.append(sql)
            params.extend(clause_params)
        joiner = " AND " if meter_filter["conjunction"] == "and" else " OR "
        return "(" + joiner.join(parts) + ")", params

    def as_sql(self, compiler, connection):
        return self._filter_sql(compiler, connection, self.meter_filter)

    def get_group_by_cols(self):
        return []

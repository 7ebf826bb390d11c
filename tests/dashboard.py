"""Shared checks for dashboard list views (NetBox-style): every list page is tested for sorting
by each orderable column in both directions, for each filter, for CSV export, for "Edit columns"
and for a query count that does not grow with the number of rows."""

import csv
import io

from django.db import connection
from django.test.utils import CaptureQueriesContext


def orderable_columns(table_class) -> list[str]:
    table = table_class([])
    return [column.name for column in table.columns.iterall() if column.orderable]


def assert_sorts_both_ways(client, url: str, table_class) -> None:
    """Every orderable column sorts ascending and descending, and the header says which."""
    names = orderable_columns(table_class)
    assert names, f"{table_class.__name__} has no orderable column"
    for name in names:
        for sort, state in ((name, "ascending"), (f"-{name}", "descending")):
            response = client.get(url, {"sort": sort, "columns": ""})
            assert response.status_code == 200, (sort, response.status_code)
            assert f'aria-sort="{state}"' in response.content.decode(), (
                f"sorting by {sort} is not shown as {state}: is the column visible by default?"
            )


def query_count(client, url: str, params: dict | None = None) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, params or {})
    assert response.status_code == 200, response.status_code
    return len(queries)


def assert_queries_flat(client, url: str, add_rows, params: dict | None = None) -> None:
    """The page runs as many queries with more rows on it as with fewer (no N+1)."""
    before = query_count(client, url, params)
    add_rows()
    after = query_count(client, url, params)
    assert after == before, f"{url}: {before} queries with fewer rows, {after} with more"


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))

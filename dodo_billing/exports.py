"""CSV downloads. Every CSV the product writes (list pages' ``?export=csv``, report exports) is
streamed by :func:`csv_response`, and every cell of it passes through :func:`spreadsheet_cell`.

Spreadsheets read a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and, in some, a tab, a
carriage return, a line feed or the full-width forms of those signs) as a formula: a customer who
names themselves ``=HYPERLINK("http://…")`` would otherwise put a live formula into the file
staff open. Such text cells get a leading ``'``, which spreadsheets show as text and do not
evaluate (OWASP's advice for CSV injection). Numbers are written as numbers: a column of ints or
Decimals (amounts in major units, counts, usage) keeps ``-5`` as ``-5``.
"""

import csv
from decimal import Decimal

from django.http import StreamingHttpResponse

# First characters that make a spreadsheet evaluate a cell (with their full-width forms).
FORMULA_STARTS = frozenset("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20")


def spreadsheet_cell(value):
    """One CSV cell: numbers as they are, None as empty, text neutralised if a spreadsheet would
    run it (``=1+1`` → ``'=1+1``, `` @SUM(1)`` → ``' @SUM(1)``; leading spaces do not hide it)."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value:f}"  # plain notation, scale kept: 56.20, -5, 1000 (never 1E+3)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    text = str(value)
    if text[:1] in FORMULA_STARTS or text.lstrip()[:1] in FORMULA_STARTS:
        return "'" + text
    return text


class _Echo:
    def write(self, value):
        return value


def csv_response(rows, filename: str) -> StreamingHttpResponse:
    """Stream ``rows`` (an iterable of lists, header first) as a CSV download, every cell through
    :func:`spreadsheet_cell`."""
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow([spreadsheet_cell(cell) for cell in row]) for row in rows),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response

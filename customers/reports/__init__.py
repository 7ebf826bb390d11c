"""The report builder, split by responsibility:

* ``datasets``: the datasets declared once (columns, filters, groupings, aggregates).
* ``periods``: a definition's period (presets, custom dates) and the time buckets it spans.
* ``runner``: runs a definition: a page of rows, every group, or the CSV export.
* ``charts``: the Chart.js configuration of a grouped result and the labels of time buckets.
* ``selectors`` / ``services``: saved reports read, and saved, renamed or deleted by name.

This ``__init__`` imports nothing; callers import the module they need.

A **definition** is a JSON document::

    {"dataset": "payments", "columns": ["id", "total_amount"], "filters": {"currency": "USD"},
     "group_by": "month", "aggregates": ["count", "total_amount"],
     "period": "custom", "start": "2026-01-01", "end": "2026-03-31", "meter_id": null}

* ``dataset`` names one of ``datasets.DATASETS``; every other key is checked against that dataset (the
  builder form in ``customers.forms_reports`` takes its choices from here).
* ``filters`` are parameters of the dataset model's own FilterSet (the one the API uses).
* ``period`` is a preset (``last_7_days``, ``last_30_days``, ``this_month``, ``last_month``),
  resolved again each time the report runs, or ``custom`` with inclusive UTC ``start``/``end``
  dates. Every report runs over a period of at most ``periods.MAX_PERIOD_DAYS`` days.
* Without ``group_by`` the result lists rows (``columns``), a page at a time; with it, one row per
  group and currency holding the chosen ``aggregates``.

Money stays integer minor units beside its currency: a money aggregate is summed per currency
(grouping by currency is implied), never across currencies, and is formatted with
``dodo_billing.money.format_money``. CSV exports carry the exact major-unit amount (``12.34``)
next to its currency.
"""

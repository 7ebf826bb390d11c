"""PostgreSQL fast paths, gathered in one place, each tested against the ORM result it replaces.

- ``compiled``: querysets compiled to SQL once per connection and shape, run as prepared statements
  (billing's reads, the wallet lock);
- ``writes``: INSERT and UPDATE statements built once per model and field list (billing's rows);
- ``copy``: COPY into a staging table and one INSERT … SELECT … ON CONFLICT DO NOTHING (ingestion).

Every one of them falls back to the ORM on other databases (SQLite, the embedded default). Why they
exist and what each saved: docs/decisions/0002-postgresql-fast-paths.md.
"""

"""Pagination for big tables in HTML pages (admin, dashboard)."""

from django.core.paginator import Paginator
from django.utils.functional import cached_property

COUNT_LIMIT = 10_000


class BoundedCountPaginator(Paginator):
    """Counts at most COUNT_LIMIT rows (``SELECT count(*) FROM (… LIMIT n)``), so a list over
    millions of rows costs a bounded scan; pages beyond the limit are not offered."""

    @cached_property
    def count(self):
        return self.object_list[: COUNT_LIMIT + 1].count()

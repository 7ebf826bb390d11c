"""Middleware of every face (API, dashboard, portal, admin)."""

from django.http import Http404

from dodo_billing.api.views import api_not_found


class NulPathMiddleware:
    """A path holding a NUL byte (``%00``) is a 404 before any view runs.

    No route and no object id can hold NUL, and PostgreSQL cannot even compare text holding it, so
    every route that looks an id up would fail on it. The API answers its JSON ``NOT_FOUND``; the
    dashboard, the portal and admin show the project's 404 page. It sits before
    ``CommonMiddleware``, which would otherwise redirect such a path to its form with a slash.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path_info:
            if request.path_info.startswith("/api/"):
                return api_not_found(request)
            raise Http404("No page has this address.")
        return self.get_response(request)

"""The portal's own sign-in: a cookie holding a signed PortalSession id.

It is independent of Django's auth session both ways: a portal session never signs anyone in to
the dashboard (``request.user`` stays whoever Django says), and a staff login never opens the
portal (only the portal cookie does). Every portal view is wrapped in ``portal_session_required``,
which sets ``request.portal_session`` and ``request.portal_customer`` or answers 403 with a page
that explains how to get a new link.
"""

from functools import wraps

from django.conf import settings
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers

from portal.selectors import portal_session_get
from portal.services import portal_session_touch

COOKIE_SALT = "portal.session"
COOKIE_PATH = "/portal/"


def set_portal_cookie(response, request, session) -> None:
    response.set_signed_cookie(
        settings.PORTAL_COOKIE_NAME,
        session.id,
        salt=COOKIE_SALT,
        max_age=settings.PORTAL_SESSION_MAX_AGE,
        path=COOKIE_PATH,
        secure=request.is_secure(),
        httponly=True,
        samesite="Lax",
    )


def clear_portal_cookie(response) -> None:
    response.delete_cookie(settings.PORTAL_COOKIE_NAME, path=COOKIE_PATH, samesite="Lax")


def current_portal_session(request):
    """The live session the request's cookie names, or None (no cookie, bad signature, ended)."""
    session_id = request.get_signed_cookie(
        settings.PORTAL_COOKIE_NAME, default=None, salt=COOKIE_SALT, max_age=settings.PORTAL_SESSION_MAX_AGE
    )
    if not session_id:
        return None
    return portal_session_get(session_id=session_id)


def portal_session_required(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        session = current_portal_session(request)
        if session is None:
            response = render(request, "portal/no_session.html", status=403)
            if settings.PORTAL_COOKIE_NAME in request.COOKIES:
                clear_portal_cookie(response)
            add_never_cache_headers(response)
            return response
        portal_session_touch(session=session)
        request.portal_session = session
        request.portal_customer = session.customer
        response = view(request, *args, **kwargs)
        add_never_cache_headers(response)  # account pages are private: no shared or back-button cache
        return response

    return wrapper

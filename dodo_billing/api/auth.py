"""Bearer API-key authentication. Every API request is tied to one key and so to one business."""

from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import SAFE_METHODS, BasePermission

from dodo_billing.errors import Forbidden, Unauthorized
from dodo_billing.selectors import api_key_get_active
from dodo_billing.services import api_key_mark_used


class ApiKeyUser:
    """What ``request.user`` is on the API: the key's business, never a dashboard user."""

    is_authenticated = True
    is_anonymous = False
    is_staff = False

    def __init__(self, api_key):
        self.api_key = api_key
        self.business = api_key.business

    def __str__(self):
        return f"api-key:{self.api_key.prefix}"


class ApiKeyAuthentication(BaseAuthentication):
    keyword = b"bearer"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts:
            return None
        if parts[0].lower() != self.keyword or len(parts) != 2:
            raise Unauthorized("The Authorization header must be 'Bearer <API key>'.")
        try:
            raw_key = parts[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise Unauthorized("The API key is not valid.") from exc
        api_key = api_key_get_active(raw_key=raw_key)
        if api_key is None:
            raise Unauthorized("The API key is not valid or has been revoked.")
        api_key_mark_used(api_key=api_key)
        return ApiKeyUser(api_key), api_key

    def authenticate_header(self, request):
        # Makes DRF answer 401 (not 403) when credentials are missing.
        return 'Bearer realm="api"'


class HasApiKey(BasePermission):
    """A valid key is required; keys without write access may only read."""

    def has_permission(self, request, view):
        if request.auth is None:
            raise Unauthorized("An API key is required: send 'Authorization: Bearer <API key>'.")
        if request.method not in SAFE_METHODS and not request.auth.can_write:
            raise Forbidden()
        return True

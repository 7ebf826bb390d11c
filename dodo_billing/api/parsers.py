"""The API's one body parser (``DEFAULT_PARSER_CLASSES``)."""

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError

from dodo_billing.json_input import load_json


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser under ``dodo_billing.json_input``'s rules: a body nested too deep is
    refused before the parser recurses, a lone surrogate is refused naming its field (422
    ``INVALID_REQUEST_BODY`` both); text that is not JSON stays a ``ParseError``."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding") or settings.DEFAULT_CHARSET
        try:
            return load_json(stream.read(), encoding=encoding)
        except ValueError as exc:  # UnicodeDecodeError is one too
            raise ParseError(f"JSON parse error - {exc}") from None

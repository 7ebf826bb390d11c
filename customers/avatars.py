"""Initials avatars of customers: two letters on a colour picked from the customer's id."""

import hashlib

from django.utils.html import format_html

# Bootstrap-compatible colours with white text at AA contrast.
AVATAR_COLOURS = ("#3b5bdb", "#0c8599", "#2b8a3e", "#c2255c", "#7048e8", "#d9480f", "#1864ab", "#5f3dc4")


def initials(name: str) -> str:
    words = [word for word in (name or "").split() if word[:1].isalnum()]
    if not words:
        return "?"
    if len(words) == 1:
        return words[0][:2].upper()
    return (words[0][0] + words[-1][0]).upper()


def avatar_colour(key: str) -> str:
    digest = hashlib.blake2s((key or "").encode(), digest_size=2).digest()
    return AVATAR_COLOURS[int.from_bytes(digest, "big") % len(AVATAR_COLOURS)]


def avatar_html(name: str, key: str, size: str = ""):
    css = "avatar avatar-lg" if size == "lg" else "avatar"
    return format_html(
        '<span class="{}" style="background:{}" aria-hidden="true">{}</span>',
        css,
        avatar_colour(key),
        initials(name),
    )

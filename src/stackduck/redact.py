"""Credentials kept out of what the server writes: its log, its start-up errors.

Standard library only, so that every layer may use it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote

MASK = "***"
#: A configured secret shorter than this is not searched for in free text (it would
#: mask every "1" or "pg" of a line); credentials in URLs are masked whatever their length.
MIN_SECRET = 4

#: ``scheme://user:password@`` — the password, whatever it holds but an ``@`` or a blank.
_URL_PASSWORD = re.compile(r"(?P<keep>[A-Za-z][A-Za-z0-9+.-]*://[^:/?#@\s]*:)[^@\s]*@")
#: ``password=...`` in a libpq conninfo string or a URL's query.
_KEY_PASSWORD = re.compile(r"(?P<keep>\bpassword\s*=\s*)(?:'(?:[^'\\]|\\.)*'?|[^\s&#]+)", re.IGNORECASE)


def url_secrets(url: str | None) -> set[str]:
    """The password in a URL (``scheme://user:password@host``) or a libpq conninfo
    (``password=...``), as written and decoded; empty when there is none."""
    if not url:
        return set()
    found: set[str] = set()
    if "://" in url:
        netloc = re.split(r"[/?#]", url.split("://", 1)[1], maxsplit=1)[0]
        userinfo, at, _ = netloc.rpartition("@")
        if at and ":" in userinfo:
            found.add(userinfo.split(":", 1)[1])
    for match in _KEY_PASSWORD.finditer(url):
        value = match.group()[len(match.group("keep")) :]
        if value.startswith("'"):  # libpq's quoting: 'it\'s'
            value = value.strip("'")
            found.add(re.sub(r"\\(.)", r"\1", value))
        found.add(value)
    return {form for value in found for form in (value, unquote(value)) if form}


def masked(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with each of ``secrets`` and every credential written in a URL or a
    ``password=`` pair replaced by ``***``."""
    for secret in sorted((s for s in secrets if len(s) >= MIN_SECRET), key=len, reverse=True):
        text = text.replace(secret, MASK)
    text = _URL_PASSWORD.sub(rf"\g<keep>{MASK}@", text)
    return _KEY_PASSWORD.sub(rf"\g<keep>{MASK}", text)

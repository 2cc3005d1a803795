"""State URLs: where a zone's PostgreSQL state lives, parsed strictly and shown without secrets.

A state URL follows libpq's connection URI (PostgreSQL documentation, "Connection Strings"),
one host only::

    postgresql://[USER[:PASSWORD]@]HOST[:PORT]/DATABASE[?NAME=VALUE&...]

``HOST`` is a name, an IPv4 address or an IPv6 address in brackets; ``USER``, ``PASSWORD``,
``DATABASE`` and query values may hold any character percent-encoded (``%40`` for ``@``).
bundlekit parses the URL itself, completely, and hands libpq the decoded parts as separate
connection parameters (decision 310): libpq never parses the URL, so none of its messages can
quote a piece of it, and the password reaches libpq only as a parameter of the connection.

What this module guarantees, whatever the input:

* a URL that does not follow the grammar is refused with a reason that quotes **no part of
  the text** (any part could be, or contain, the password);
* :attr:`StateURL.masked`, the only form bundlekit ever shows, is rebuilt from the parsed
  parts with every secret (``password``, ``sslpassword``) replaced by the one mask
  (``core.text.MASK``, ``********``);
* :meth:`StateURL.withhold` drops a driver's message that contains any form of a secret.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from urllib.parse import quote

from bundlekit.core.text import MASK

__all__ = ["StateURL", "MalformedURL", "split_state_url", "SCHEMES", "SECRET_PARAMETERS", "EXPECTED"]

#: URL schemes of a PostgreSQL state (libpq's two spellings).
SCHEMES = ("postgresql", "postgres")
#: Connection parameters whose values are secrets: never shown, never on a command line.
SECRET_PARAMETERS = ("password", "sslpassword", "oauth_client_secret", "scram_client_key", "scram_server_key")
#: The form every refusal shows.
EXPECTED = "postgresql://USER@HOST:PORT/DATABASE"
#: Parameters the URL's main part gives: naming them again in the query is ambiguous.
_MAIN_PARAMETERS = ("host", "port", "dbname", "user")
_HOST_NAME = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$")
_PARAMETER_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
# Shown as written in the masked form; everything else in a user, database or value is encoded.
_SAFE = "-._~!$'()*+,;="


class MalformedURL(ValueError):
    """A state URL that does not follow the grammar; ``reason`` quotes nothing from the URL."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class StateURL:
    """A parsed state URL. ``text`` is the URL as written (for the settings file only), ``masked``
    the form to show; :meth:`parameters` are libpq's connection parameters (secrets included)."""

    text: str = field(repr=False)
    scheme: str
    host: str
    port: int | None
    dbname: str
    user: str | None
    query: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    secrets: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    written: tuple[str, ...] = field(default=(), repr=False)  # the secrets as written (percent-encoded)
    #: Where the URL came from, for messages ("--state", "BUNDLEKIT_STATE in HOME/bundlekit.conf, line 1").
    where: str = field(default="the state URL", compare=False)
    #: True when it came from a home's settings file (a refusal is then the home's, not the command line's).
    setting: bool = field(default=False, compare=False)

    @property
    def password(self) -> str | None:
        """The password the URL itself carries (userinfo or ``?password=``), or None."""
        return dict(self.secrets).get("password")

    @property
    def masked(self) -> str:
        user = quote(self.user, safe=_SAFE) if self.user is not None else ""
        hidden = f":{MASK}" if "password" in dict(self.secrets) else ""
        userinfo = f"{user}{hidden}@" if user or hidden else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = f":{self.port}" if self.port is not None else ""
        shown = [(k, quote(v, safe=_SAFE + "/:@")) for k, v in self.query]
        shown += [(k, MASK) for k, _ in self.secrets if k != "password" or not hidden]
        query = "?" + "&".join(f"{k}={v}" for k, v in shown) if shown else ""
        return f"{self.scheme}://{userinfo}{host}{port}/{quote(self.dbname, safe=_SAFE)}{query}"

    def __str__(self) -> str:
        return self.masked

    def parameters(self, password: str | None = None) -> dict[str, str]:
        """libpq connection parameters; ``password`` (the home's password file) wins over the URL's."""
        out = {"host": self.host, "dbname": self.dbname}
        if self.port is not None:
            out["port"] = str(self.port)
        if self.user is not None:
            out["user"] = self.user
        out.update(self.query)
        out.update(self.secrets)
        if password:
            out["password"] = password
        return out

    def withhold(self, text: str, extra: str | None = None) -> str:
        """``text`` (a driver's message), or a notice in its place when it contains a secret of this
        URL (decoded or as written) or ``extra``: replacing only the secret would still show where
        it was, and what surrounds it."""
        forms = [value for _, value in self.secrets] + list(self.written) + ([extra] if extra else [])
        if any(form and form in text for form in forms):
            return "the driver's message is withheld: it contained the password"
        return text


def _decode(text: str, what: str) -> str:
    """Strict percent-decoding: every ``%`` starts two hexadecimal digits; UTF-8; no NUL."""
    if "%" in _ESCAPE.sub("", text):
        raise MalformedURL(f"the {what} has a '%' that is not followed by two hexadecimal digits (write a "
                           "literal '%' as %25)")
    raw = bytearray()
    last = 0
    for m in _ESCAPE.finditer(text):
        raw += text[last:m.start()].encode("utf-8")
        raw.append(int(m.group(1), 16))
        last = m.end()
    raw += text[last:].encode("utf-8")
    try:
        value = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedURL(f"the {what} decodes to bytes that are not UTF-8") from None
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise MalformedURL(f"the {what} holds a control character (a NUL, a line break, ...)")
    return value


def _host(text: str) -> tuple[str, int | None]:
    """``HOST[:PORT]`` (``[V6]`` or ``[V6]:PORT`` for IPv6)."""
    if "," in text:
        raise MalformedURL("it names several hosts (','); bundlekit takes one host per state URL")
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise MalformedURL("the IPv6 address after '[' is not closed with ']'")
        host, after = text[1:close], text[close + 1:]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise MalformedURL("the text in '[...]' is not an IPv6 address") from None
        if "%" in host:
            raise MalformedURL("the IPv6 address carries a zone index ('%'); give the address without it")
        if after and not after.startswith(":"):
            raise MalformedURL("after the IPv6 address's ']' comes something other than ':PORT'")
        port = after[1:] if after else None
    else:
        if "[" in text or "]" in text:
            raise MalformedURL("a '[' or ']' appears in the host; an IPv6 address goes in brackets: [::1]:5432")
        host, sep, port_text = text.partition(":")
        port = port_text if sep else None
        if not host:
            raise MalformedURL("it names no host (postgresql://USER@HOST/...)")
        if not _HOST_NAME.match(host):
            raise MalformedURL("the host is not a host name or an address (letters, digits, '.', '-', '_'; "
                               "an IPv6 address in brackets)")
    if port is None:
        return host, None
    if not port.isascii() or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise MalformedURL("the port is not a number from 1 to 65535")
    return host, int(port)


def _query(text: str, written: list[str]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    # Names are shown only when they are fixed words: a password holding '&' would make its tail a "name".
    plain: list[tuple[str, str]] = []
    secret: list[tuple[str, str]] = []
    seen: set[str] = set()
    for part in text.split("&"):
        name, sep, value = part.partition("=")
        if not sep or not _PARAMETER_NAME.match(name):
            raise MalformedURL("a part of the query is not NAME=VALUE with a connection parameter's name "
                               "(lower-case letters, digits, '_'; an '&' inside a value is written %26)")
        if name in seen:
            raise MalformedURL("the query gives one parameter twice")
        if name in _MAIN_PARAMETERS:
            raise MalformedURL(f"the query gives {name}, which belongs in the URL's main part ({EXPECTED})")
        seen.add(name)
        if name in SECRET_PARAMETERS:
            secret.append((name, _decode(value, "value of a secret query parameter")))
            written.append(value)
        else:
            plain.append((name, _decode(value, "value of a query parameter")))
    return plain, secret


def split_state_url(text: str, *, where: str = "the state URL", setting: bool = False) -> StateURL:
    """Parse a state URL (surrounding white space ignored).

    Raises :class:`MalformedURL` whose reason names the part that is wrong and quotes nothing.
    """
    text = text.strip()
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in text):
        raise MalformedURL("it contains a space or a control character (percent-encode a space as %20)")
    scheme, sep, rest = text.partition("://")
    if not sep or scheme.lower() not in SCHEMES:
        raise MalformedURL("it does not start with postgresql:// (or postgres://)")
    # libpq's reading: the user and password end at the first '@' before any '/'.
    head = rest.split("/", 1)[0]
    user: str | None = None
    secrets: list[tuple[str, str]] = []
    written: list[str] = []
    if "@" in head:
        userinfo, _, rest = rest.partition("@")
        if "@" in rest.split("/", 1)[0]:
            raise MalformedURL("'@' appears more than once before the host (write an '@' inside the user or "
                               "password as %40)")
        name, colon, password = userinfo.partition(":")
        user = _decode(name, "user") or None
        if colon and password:
            secrets.append(("password", _decode(password, "password")))
            written.append(password)
    cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    host, port = _host(rest[:cut])
    rest = rest[cut:]
    path, _, query_text = rest.partition("?")
    if "@" in rest:  # user:pass/word@host read as host "user", port "pass": the rest must not be shown
        raise MalformedURL("an '@' appears after the host (a '/' inside a user or password is written %2F, an "
                           "'@' inside a database name or value %40)")
    dbname = _decode(path[1:], "database") if path.startswith("/") else ""
    if not dbname:
        raise MalformedURL("it names no database (add /DATABASE after the host)")
    plain, secret = _query(query_text, written) if query_text else ([], [])
    if secrets and secret and any(k == "password" for k, _ in secret):
        raise MalformedURL("it gives the password twice (after the user and in the query)")
    return StateURL(text, scheme.lower(), host, port, dbname, user, tuple(plain), tuple(secrets + secret),
                    tuple(written), where, setting)


"""The ``UriPart`` filter: one component of a URI, named as .NET's ``System.Uri`` names it.

``#{Url | UriPart Host}`` gives ``octopus.com`` for ``https://octopus.com/docs``. The parts
and their spelling follow .NET (``Authority`` omits a default port, ``HostAndPort`` always
shows the port, ``Path`` is the unescaped local path, ``HostNameType`` is ``Dns``,
``IPv4``, ``IPv6`` or ``Basic``). As in Octostache a problem is reported in the output as
``[UriPart NAME error: ...]`` rather than failing the token, and a text that is not a URI
at all is returned unchanged.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from urllib.parse import unquote, urlsplit

from bundlekit.substitution.errors import FilterFailure

__all__ = ["uri_part"]

_DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21, "ws": 80, "wss": 443, "gopher": 70, "nntp": 119,
                  "telnet": 23, "ldap": 389, "mailto": 25, "net.tcp": 808}
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_RELATIVE = "This operation is not supported for a relative URI."
_PARTS = ("absolutepath", "absoluteuri", "authority", "dnssafehost", "fragment", "host", "hostandport",
          "hostnametype", "isabsoluteuri", "isdefaultport", "isfile", "isloopback", "isunc", "path",
          "pathandquery", "port", "query", "scheme", "schemeandserver", "userinfo")


def _host_type(host: str) -> str:
    if not host:
        return "Basic"
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return "Dns" if re.fullmatch(r"[A-Za-z0-9\-._~]+", host) else "Basic"
    return "IPv4" if address.version == 4 else "IPv6"


def _loopback(host: str) -> bool:
    if host in ("", "localhost") or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _absolute(url: str, part: str) -> str:
    split = urlsplit(url)
    scheme = split.scheme.lower()
    host = (split.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = split.port if split.port is not None else _DEFAULT_PORTS.get(scheme, -1)
    default = split.port is None or split.port == _DEFAULT_PORTS.get(scheme)
    userinfo = split.netloc.rpartition("@")[0] if "@" in split.netloc else ""
    authority = host if default or port < 0 else f"{host}:{port}"
    path = split.path or ("/" if split.netloc or scheme in _DEFAULT_PORTS else "")
    query = f"?{split.query}" if split.query else ""
    fragment = f"#{split.fragment}" if split.fragment else ""
    server = f"{scheme}://{authority}"
    values = {
        "absolutepath": path, "authority": authority, "dnssafehost": host.strip("[]"), "fragment": fragment,
        "host": host, "hostandport": f"{host}:{port}" if port >= 0 else host, "hostnametype": _host_type(host),
        "isabsoluteuri": "true", "isdefaultport": "true" if default else "false",
        "isfile": "true" if scheme == "file" else "false",
        "isloopback": "true" if _loopback(host) else "false",
        "isunc": "true" if scheme == "file" and host not in ("", "localhost") else "false",
        "path": unquote(path), "pathandquery": path + query, "port": str(port), "query": query, "scheme": scheme,
        "schemeandserver": server, "userinfo": userinfo,
        "absoluteuri": f"{scheme}://{userinfo + '@' if userinfo else ''}{authority}{path}{query}{fragment}",
    }
    return values[part]


def uri_part(value: str | None, options: list[str], _now: datetime | None) -> str:
    """``#{Url | UriPart NAME}`` (see the module docstring); fails only without a value."""
    if value is None:
        raise FilterFailure("needs a value to work on, as in #{Url | UriPart Host}")
    if not options:
        return "[UriPart error: no argument given]"
    name = options[0]
    part = name.lower()
    if part not in _PARTS:
        return f"[UriPart {name} error: argument '{name}' not supported]"
    text = value.strip()
    if _SCHEME.match(text):
        try:
            split = urlsplit(text)
            split.port  # noqa: B018 - raises on a port that is not a number
        except ValueError:
            return value  # not a URI: returned as it is (Octostache)
        if split.scheme.lower() in _DEFAULT_PORTS and not split.hostname:
            return value
        return _absolute(text, part)
    if any(c in text for c in " <>\"{}|\\^`"):
        return value
    if part == "isabsoluteuri":
        return "false"
    return f"[UriPart {name} error: {_RELATIVE}]"

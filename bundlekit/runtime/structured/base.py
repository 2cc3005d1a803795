"""What every structured configuration format shares: the edit result and the parse error."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["ConfigEdit", "ConfigParseError", "is_reserved", "FORMATS"]

#: The formats, in the order Octopus tries them for a file whose name says nothing.
FORMATS = ("json", "xml", "yaml", "properties")

_RESERVED = re.compile(r"^octopus([^:]|$)", re.IGNORECASE)


def is_reserved(name: str) -> bool:
    """``Octopus.*`` names are bundlekit's own; they never replace a configuration value
    (a name that starts with ``Octopus:`` is a path and does). Octopus's rule."""
    return bool(_RESERVED.match(name))


@dataclass(frozen=True)
class ConfigEdit:
    """The result of applying variables to one file's text.

    ``text`` is the new text, or None when nothing matched (the file is left as it is);
    ``replaced`` pairs each variable name that matched with where it matched, spelled as in
    the file (``Logging:LogLevel:Default``, an XPath, a properties key), in document order;
    ``warnings`` says what matched but could not be replaced, and why.
    """

    text: str | None
    replaced: tuple[tuple[str, str], ...] = field(default=())
    warnings: tuple[str, ...] = field(default=())


class ConfigParseError(Exception):
    """The text does not parse as the format. ``line``/``column`` are 1-based, 0 when unknown."""

    def __init__(self, fmt: str, reason: str, line: int = 0, column: int = 0) -> None:
        where = f" at line {line}, column {column}" if line else ""
        super().__init__(f"not valid {fmt.upper() if fmt != 'properties' else 'Java properties'}{where}: {reason}")
        self.format, self.reason, self.line, self.column = fmt, reason, line, column

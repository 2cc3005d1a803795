"""Structured configuration variables (Octopus's feature): JSON, YAML, XML and Java properties.

A variable whose name is a path into a configuration file replaces the value there:
``Logging:LogLevel:Default`` in JSON and YAML, an XPath in XML, a key in ``.properties``.
This package owns choosing a file's format and applying variables to its text; the format
modules own each grammar. Files are read and written in their own encoding
(:mod:`bundlekit.package.textfiles`) and rewritten only when something was replaced.

The format is chosen as Octopus chooses it: by the file's extension (``.json``; ``.yaml`` /
``.yml``, ``.xml`` and ``.properties`` are tried as JSON first, for compatibility), and for
any other name by trying JSON, XML, YAML and properties in turn; the first that parses is
used, except that text starting with ``<`` or ``{`` is never read as properties (decision
520). The step runtime ships this package to targets: it imports nothing from ``zone`` or
``cli``.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Callable, Mapping, Sequence

from bundlekit.runtime.structured.base import FORMATS, ConfigEdit, ConfigParseError

__all__ = ["FORMATS", "ConfigEdit", "ConfigParseError", "formats_for", "apply_config", "choose_format",
           "MAX_CONFIG_BYTES"]

#: Configuration files are parsed whole; anything larger is refused rather than loaded.
MAX_CONFIG_BYTES = 32 << 20

#: format -> (module, function). Imported on first use: on a target, YAML needs the vendored
#: ruamel.yaml (and a Python it supports) and XML needs lxml; a format whose library cannot be
#: imported raises ImportError for that format only (decision 140).
_APPLY = {"json": ("jsonfile", "apply_json"), "yaml": ("yamlfile", "apply_yaml"), "xml": ("xmlfile", "apply_xml"),
          "properties": ("propertiesfile", "apply_properties")}


def _applier(fmt: str) -> Callable[[str, Mapping[str, str]], ConfigEdit]:
    module, function = _APPLY[fmt]
    try:
        loaded = importlib.import_module(f"bundlekit.runtime.structured.{module}")
    except SyntaxError as error:  # a vendored library newer than this Python
        raise ImportError(f"a library for {fmt} that this Python cannot run ({error.msg})",
                          name="ruamel.yaml" if fmt == "yaml" else None) from None
    return getattr(loaded, function)  # type: ignore[no-any-return]
_EXTENSIONS = {".json": "json", ".yaml": "yaml", ".yml": "yaml", ".xml": "xml", ".properties": "properties"}


def formats_for(file_name: str, forced: str | None = None) -> tuple[str, ...]:
    """The formats to try for ``file_name``, in order (``forced``: that format only)."""
    if forced is not None:
        if forced not in FORMATS:
            raise ValueError(f"unknown configuration format {forced!r}")
        return (forced,)
    suffix = Path(file_name).suffix.lower()
    known = _EXTENSIONS.get(suffix)
    if known == "json":
        return ("json",)
    if known is not None:
        return ("json", known)
    return FORMATS


def choose_format(text: str, formats: Sequence[str]) -> str:
    """The first of ``formats`` that ``text`` parses as; raises the last format's
    :class:`ConfigParseError` when none does."""
    return apply_config(text, {}, formats)[0]


def _looks_like(text: str) -> str | None:
    """``xml`` for text that starts with ``<``, ``json`` for ``{``, else None (leading blanks skipped)."""
    head = text.lstrip(" \t\r\n")[:1]
    return {"<": "xml", "{": "json"}.get(head)


def apply_config(text: str, variables: Mapping[str, str], formats: Sequence[str]) -> tuple[str, ConfigEdit]:
    """``(format used, edit)``: ``variables`` applied to ``text`` in the first of ``formats``
    it parses as. Raises :class:`ConfigParseError` when none: that of the last format tried.

    One difference from Octopus (decision 520): when Java properties is only the last resort,
    text that starts with ``<`` or ``{`` is not read as properties (nearly anything reads as
    properties, so a broken XML or JSON file would be left unchanged without a word); the XML
    or JSON error is raised instead.
    """
    looks = _looks_like(text) if len(formats) > 1 and formats[-1] == "properties" else None
    errors: dict[str, ConfigParseError] = {}
    error: ConfigParseError | None = None
    for fmt in formats:
        if fmt == "properties" and looks is not None:
            break
        try:
            return fmt, _applier(fmt)(text, variables)
        except ConfigParseError as failure:
            errors[fmt] = error = failure
    assert error is not None, "no formats to try"
    raise errors.get(looks or "", error)

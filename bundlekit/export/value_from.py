"""A release file's sensitive value taken, at export time, from the environment or a file.

``value_from = { env = "NAME" }`` or ``value_from = { file = "path" }`` on a variable marked
``sensitive = true`` (``spec/release-file.md``; ``docs/decisions/542-value-from.md``), so a secret
need not sit in a release file kept in version control. The value is read when the release file
is loaded (``export``, ``releases create``) and from then on is a sensitive value like any other:
sealed to the destination in the bundle, stored only by fingerprint in the exporting zone, never
printed. Messages name the release file, the variable (index and name), the environment
variable or file, and what to do; they never quote the value.

A file's path is relative to the release file's folder unless absolute (secrets usually live
outside the repository, ``/run/secrets/...``); links are followed, since secret mounts are
links. One trailing line break of the file is dropped, as ``variables set --from-file`` does;
an environment variable is taken as it is. An unset variable, a missing file and an empty
value are ``InputError`` ``value_source_missing``; a file that cannot be read is refused as
:func:`bundlekit.core.files.read_user_file` refuses it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from bundlekit.core.files import read_user_file, strip_line_break
from bundlekit.errors import InputError

__all__ = ["MAX_VALUE_BYTES", "SourceMissing", "resolve_value_from"]

#: The most a value read from a file may be, as for `variables set --from-file`.
MAX_VALUE_BYTES = 16 * 1024 * 1024


class SourceMissing(InputError):
    """``value_source_missing``, keeping its parts apart: ``problem`` (what is missing, naming the
    variable) and ``fix`` (what to do), so lint can show each once (a finding has its own key path
    and fix), where the refusal's message says where, the problem and the fix in one sentence."""

    def __init__(self, where: str, problem: str, fix: str, details: dict[str, str]) -> None:
        super().__init__(f"{where}: {problem}; nothing was exported. {fix}", code="value_source_missing",
                         details=details)
        self.problem = problem
        self.fix = fix


def _missing(where: str, problem: str, fix: str, details: dict[str, str]) -> SourceMissing:
    return SourceMissing(where, problem, fix, details)


def resolve_value_from(release_file: Path, index: int, name: str, source: Mapping[str, str],
                       environ: Mapping[str, str] | None = None) -> str:
    """The value ``source`` (a checked ``value_from`` table: one key, ``env`` or ``file``) names
    for ``variables[index]`` (``name``) of ``release_file``.

    ``environ`` defaults to ``os.environ``. Raises ``InputError`` ``value_source_missing`` (the
    environment variable is not set or empty, the file does not exist or is empty: a
    :class:`SourceMissing`), and for a
    file that exists but cannot be used ``unreadable``, ``not_a_file``, ``file_not_found`` (a
    folder), ``input_too_large`` or ``not_utf8``.
    """
    where = f"{release_file}: variables[{index}] ({name}).value_from"
    if "env" in source:
        var = source["env"]
        env = os.environ if environ is None else environ
        details = {"field": f"variables[{index}].value_from.env", "env": var}
        if var not in env:
            raise _missing(f"{where}.env", f"the environment variable {var} is not set",
                           f"Set {var} in the environment of this command, from your secret store, or use "
                           "value_from = { file = \"PATH\" }", details)
        if env[var] == "":
            raise _missing(f"{where}.env", f"the environment variable {var} is empty",
                           f"Set {var} to the value, or use value_from = {{ file = \"PATH\" }}", details)
        return env[var]
    given = source["file"]
    path = Path(given) if os.path.isabs(given) else release_file.parent / given
    details = {"field": f"variables[{index}].value_from.file", "file": str(path)}
    if not os.path.lexists(path) or (os.path.islink(path) and not os.path.exists(path)):
        raise _missing(f"{where}.file", f"the file {path} does not exist",
                       "Create it with the value on one line, or correct the path: a relative path is "
                       "relative to the release file's folder", details)
    data = read_user_file(path, what=f"{where}.file {path}", limit=MAX_VALUE_BYTES)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{where}.file {path} is not UTF-8 text (byte {exc.start} is invalid); the value must "
                         "be UTF-8", code="not_utf8") from None
    text = strip_line_break(text)
    if text == "":
        raise _missing(f"{where}.file", f"the file {path} is empty", "Write the value into it", details)
    return text

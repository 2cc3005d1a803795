"""The one validator for names and relative paths that come from outside.

Everything bundlekit turns into a file or folder name, or uses as a key that a person or a
script types, is checked here, and nowhere else (``spec/names.md`` states the rules once;
``docs/decisions/120-one-name-and-path-rule.md`` says why they are what they are). Four kinds:

* a **name** is a token: a zone, target, approver key, project slug, package id, package
  version, deployment id. 1 to :data:`MAX_NAME_LENGTH` characters from ``A-Z a-z 0-9 . _ - + @``,
  starting with a letter or digit, not ending with ``.``, and not a Windows device name;
* a **relative path** is a package member, a package file in a release file, a file pattern:
  components separated by ``/``, each a valid *path component* (below). A **file name** is a
  relative path of exactly one component (the ``file`` of a package in a manifest, a file
  carried on media or through a diode);
* a **label** is text a person reads and types but that never becomes a path: an environment,
  a role, a step, a variable or output variable name, a channel, a space, a project name. 1 to
  :data:`MAX_LABEL_LENGTH` characters, no control character, line or paragraph separator
  (U+2028, U+2029), bidirectional-text control or lone surrogate, no white space at either end
  (decisions 125 and 320);
* a **version** is a release version: a name shaped as Octopus numbers releases, up to four
  numbers, then an optional ``-pre-release`` and ``+build`` part (decision 126).

A path component is refused when it is empty, ``.`` or ``..``; holds ``/``, ``\\``, NUL, a C0 or
C1 control character, DEL, a bidirectional-text control, a lone surrogate, or one of
``< > : " | ? *`` (reserved on Windows; ``:`` also names NTFS alternate streams, so it covers
drive letters too); ends with ``.`` or a space (Windows drops them, so ``a.`` would become
``a``); is a Windows device name (``CON``, ``PRN``, ``AUX``, ``NUL``, ``COM0``-``COM9``,
``LPT0``-``LPT9``, their superscript-digit forms, ``CONIN$``, ``CONOUT$``; any letter case,
with or without an extension); or is longer than :data:`MAX_COMPONENT_BYTES` bytes in UTF-8. A
path is refused when it is empty, absolute (starts with ``/``), longer than
:data:`MAX_PATH_BYTES` bytes or deeper than :data:`MAX_DEPTH` components.

Windows rules apply everywhere, on purpose: a package made and checked on Linux may be
deployed to a Windows machine later, and a name must mean the same thing on every system.

Two different names can still be one file on a case-insensitive or Unicode-normalising file
system (Windows, macOS): :func:`fold` gives the key such a file system compares, and
:func:`collisions` finds the pairs in a set of names.

The ``*_problem`` functions return why a value is refused (a phrase that fits after "it"), or
None; the ``check_*`` functions raise a :class:`~bundlekit.errors.BundleError` of the family
and (registered) code the caller names (a bad member is a deploy refusal in a package, a format refusal
in a manifest), with a message that names the field and says what to do.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Iterable, List, Optional, Tuple, Type

from bundlekit.errors import BundleError

__all__ = [
    "check_one_name",
    "version_order",
    "check_environment",
    "MAX_NAME_LENGTH",
    "MAX_COMPONENT_BYTES",
    "MAX_PATH_BYTES",
    "MAX_DEPTH",
    "MAX_LABEL_LENGTH",
    "NAME_RULE",
    "PATH_RULE",
    "LABEL_RULE",
    "VERSION_RULE",
    "SCHEMA_FORMATS",
    "name_problem",
    "label_problem",
    "version_problem",
    "component_problem",
    "path_problem",
    "file_name_problem",
    "tree_path_problem",
    "work_folder_problem",
    "MAX_TREE_PATH_LENGTH",
    "normalise_path",
    "check_name",
    "check_label",
    "quoted",
    "check_version",
    "check_path",
    "check_file_name",
    "is_reserved",
    "fold",
    "collisions",
]

#: Longest name (token), in characters (all ASCII).
MAX_NAME_LENGTH = 100
#: Longest path component, in UTF-8 bytes (the limit of ext4, XFS, APFS and NTFS alike).
MAX_COMPONENT_BYTES = 255
#: Longest relative path, in UTF-8 bytes; leaves room under Linux's 4096-byte PATH_MAX for the
#: folder a package is extracted into.
MAX_PATH_BYTES = 1024
#: Most components in a relative path (bounds recursion-free walks and folder depth alike).
MAX_DEPTH = 64
#: Characters in a path inside a zone's home, as a backup names it (:func:`tree_path_problem`).
MAX_TREE_PATH_LENGTH = 4096

#: One line for messages: what a valid name looks like.
NAME_RULE = (f"use 1-{MAX_NAME_LENGTH} letters, digits, '.', '_', '-', '+' or '@', starting with a letter or "
             "digit and not ending with '.'")
#: One line for messages: what a valid relative path looks like.
PATH_RULE = "use a relative path with '/' separators, for example 'config/app.json'"
#: Longest label, in characters.
MAX_LABEL_LENGTH = 200
#: One line for messages: what a valid label looks like.
LABEL_RULE = (f"use 1-{MAX_LABEL_LENGTH} characters of text without control characters (tabs and line breaks "
              "included), bidirectional-text controls or spaces at either end")
#: Most characters of a refused value a message repeats (:func:`quoted`).
QUOTED_LENGTH = 60
#: One line for messages: what a valid release version looks like.
VERSION_RULE = ("use a version such as 1.4.0, 1.4.0.12, 2.0.0-beta.1 or 1.4.0+build.7 (up to four numbers, then "
                "optionally '-' and a pre-release label and '+' and build metadata, of letters, digits, '-' and '.')")

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+@-]*")
_IDENTIFIERS = r"[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*"
# Octopus release numbers: SemVer 2.0.0 with an optional fourth number (Octopus.Versioning).
_VERSION = re.compile(rf"[0-9]+(?:\.[0-9]+){{0,3}}(?:-{_IDENTIFIERS})?(?:\+{_IDENTIFIERS})?")
_WINDOWS_FORBIDDEN = frozenset('<>:"|?*')
_GLOB = frozenset("*?[]")
# Bidirectional-text controls: they make text display in another order than it is stored
# ("exe.txt" shown for "txt.exe"). Unicode TR #9 explicit formatting characters and marks.
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_DEVICES = frozenset(
    ["con", "prn", "aux", "nul", "conin$", "conout$"]
    + [f"{kind}{digit}" for kind in ("com", "lpt") for digit in "0123456789\u00b9\u00b2\u00b3"]
)


def _bad_char(ch: str) -> Optional[str]:
    code = ord(ch)
    if code == 0:
        return "contains a NUL character"
    if code < 0x20 or 0x7F <= code <= 0x9F:
        return f"contains the control character U+{code:04X}"
    if ch in _BIDI:
        return f"contains the bidirectional-text control U+{code:04X}"
    if 0xD800 <= code <= 0xDFFF:
        return "is not valid Unicode (a lone surrogate)"
    return None


def is_reserved(component: str) -> bool:
    """Whether Windows treats ``component`` as a device (``NUL``, ``con.txt``, ``Com1.tar.gz``)."""
    stem = component.split(".", 1)[0].rstrip(" ").lower()
    return stem in _DEVICES


def name_problem(value: object) -> Optional[str]:
    """Why ``value`` is not a valid name (token), or None if it is one."""
    if not isinstance(value, str):
        return "is not text"
    if not value:
        return "is empty"
    if len(value) > MAX_NAME_LENGTH:
        return f"is longer than {MAX_NAME_LENGTH} characters"
    for ch in value:
        problem = _bad_char(ch)
        if problem:
            return problem
    if not _NAME.fullmatch(value):
        if not value[0].isascii() or not value[0].isalnum():
            return "does not start with a letter or digit"
        bad = next(ch for ch in value if not (ch.isascii() and (ch.isalnum() or ch in "._+@-")))
        return f"contains {bad!r}"
    if value.endswith("."):
        return "ends with '.' (Windows would drop it)"
    if is_reserved(value):
        return "is a Windows device name (CON, NUL, COM1, ...)"
    return None


def label_problem(value: object) -> Optional[str]:
    """Why ``value`` is not a valid label (display text that is never a path), or None."""
    if not isinstance(value, str):
        return "is not text"
    if not value:
        return "is empty"
    if len(value) > MAX_LABEL_LENGTH:
        return f"is longer than {MAX_LABEL_LENGTH} characters ({len(value)})"
    for ch in value:
        problem = _bad_char(ch)
        if problem:
            return problem
        if ch in "\u2028\u2029":  # Unicode's own line breaks: a label is one line
            return f"contains the {'line' if ch == chr(0x2028) else 'paragraph'} separator U+{ord(ch):04X}"
    if value != value.strip():
        return "starts or ends with white space"
    return None


def version_problem(value: object) -> Optional[str]:
    """Why ``value`` is not a valid release version (a name shaped like 1.4.0-beta.1+7), or None."""
    problem = name_problem(value)
    if problem:
        return problem
    if not isinstance(value, str) or not _VERSION.fullmatch(value):
        return "is not a version"
    return None


def version_order(version: str) -> Tuple[Tuple[int, object], ...]:
    """A sort key that orders versions as people read them: numeric parts as numbers
    (1.10.0 after 1.9.0), other parts case-insensitively after numbers."""
    return tuple((0, int(part)) if part.isdigit() else (1, part.lower())
                 for part in re.split(r"[.\-+_]", version) if part)


def component_problem(part: str, *, glob: bool = False) -> Optional[str]:
    """Why ``part`` is not a valid path component, or None. ``glob`` allows ``* ? [ ]``."""
    if part == "":
        return "has an empty component ('//')"
    if part in (".", ".."):
        return ("has a '..' component that climbs out of its folder" if part == ".."
                else "has a '.' component")
    for ch in part:
        if ch == "\\":
            return "contains a backslash (a path separator on Windows)"
        problem = _bad_char(ch)
        if problem:
            return problem
        if ch in _WINDOWS_FORBIDDEN and not (glob and ch in _GLOB):
            if ch == ":" and len(part) >= 2 and part[1] == ":" and part[0].isalpha():
                return "starts with a drive letter"
            return f"contains {ch!r} (reserved on Windows)"
    if part[-1] in ". ":
        return "has a component ending with '.' or a space (Windows would drop it)"
    if is_reserved(part):
        return f"has the component {part!r}, a Windows device name (CON, NUL, COM1, ...)"
    if len(part.encode("utf-8")) > MAX_COMPONENT_BYTES:
        return f"has a component longer than {MAX_COMPONENT_BYTES} bytes"
    return None


def _drive(value: str) -> bool:
    return len(value) >= 2 and value[1] == ":" and value[0].isascii() and value[0].isalpha()


def path_problem(value: object, *, glob: bool = False, normalise: bool = False) -> Optional[str]:
    """Why ``value`` is not a valid relative path, or None.

    With ``normalise``, empty and ``.`` components (``./a``, ``a//b``, a trailing ``/``) are
    allowed and dropped, as archives write them; the normalised path may then be ``""`` (the
    folder itself). ``glob`` allows the pattern characters ``* ? [ ]``.
    """
    if not isinstance(value, str):
        return "is not text"
    if value == "":
        return "is empty"
    if "\\" in value:
        return "contains a backslash (a path separator on Windows)"
    if value.startswith("/"):
        return "is an absolute path"
    if _drive(value):
        return "starts with a drive letter"
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        return "is not valid Unicode (a lone surrogate)"
    parts = value.split("/")
    if normalise:
        parts = [p for p in parts if p not in ("", ".")]
    if len(parts) > MAX_DEPTH:  # before the length: a very deep path is too long as well, and depth is the cause
        return f"is nested {len(parts)} levels, more than {MAX_DEPTH} folders deep"
    if size > MAX_PATH_BYTES:
        return f"is longer than {MAX_PATH_BYTES} bytes"
    for part in parts:
        problem = component_problem(part, glob=glob)
        if problem:
            return problem
    return None


def file_name_problem(value: object, *, hidden: bool = True) -> Optional[str]:
    """Why ``value`` is not a valid single file name, or None. ``hidden=False`` also refuses
    names starting with ``.``, for folders where bundlekit keeps its own hidden temporary
    files next to what it receives."""
    problem = path_problem(value)
    if problem is not None or not isinstance(value, str):
        return problem
    if "/" in value:
        return "contains '/' (a file name, not a path)"
    if not hidden and value.startswith("."):
        return "starts with '.' (a hidden file)"
    return None


def tree_path_problem(value: object) -> Optional[str]:
    """Why ``value`` is not a path a zone backup may name inside the home it restores, or None.

    Weaker than :func:`path_problem` on purpose (spec/backup.md): a backup holds whatever files
    the home held on the machine that made it and is restored on such a machine, so Windows
    rules do not apply. It only has to stay inside the folder: relative, ``/``-separated, no
    empty, ``.`` or ``..`` component, no NUL or backslash, at most :data:`MAX_DEPTH`
    components and :data:`MAX_TREE_PATH_LENGTH` characters.
    """
    if not isinstance(value, str):
        return "is not text"
    if not value:
        return "is empty"
    if len(value) > MAX_TREE_PATH_LENGTH:
        return f"is longer than {MAX_TREE_PATH_LENGTH} characters"
    if "\0" in value or "\\" in value:
        return "contains NUL or a backslash"
    parts = value.split("/")
    if len(parts) > MAX_DEPTH:
        return f"is nested {len(parts)} levels, more than {MAX_DEPTH} folders deep"
    if any(part in ("", ".", "..") for part in parts):
        return "is absolute, or has an empty, '.' or '..' component"
    return None


def work_folder_problem(value: object) -> Optional[str]:
    """Why ``value`` is not a target's work folder, or None: an absolute path on the target
    (or ``~/...``, the target user's home) of at most :data:`MAX_PATH_BYTES` characters, on one
    line, without NUL and without a ``..`` component. It names a folder on a machine the zone
    operator chose, not a name a bundle carries, so the rules of relative paths do not apply."""
    if not isinstance(value, str):
        return "is not text"
    if not (value.startswith("/") or value.startswith("~/")):
        return "is not an absolute path (or ~/FOLDER on the target)"
    if "\0" in value or "\n" in value or len(value) > MAX_PATH_BYTES:
        return f"contains NUL or a line break, or is longer than {MAX_PATH_BYTES} characters"
    if ".." in value.split("/"):
        return "has a '..' component"
    return None


def normalise_path(value: str) -> str:
    """``value`` without empty and ``.`` components (``./a//b/`` -> ``a/b``); checks nothing."""
    return "/".join(p for p in value.split("/") if p not in ("", "."))


def quoted(value: object, limit: int = QUOTED_LENGTH) -> str:
    """``value`` as a message repeats it: ``repr`` (so control characters show as escapes), and
    for text longer than ``limit`` characters only its start followed by ``...``, so a refused
    100 000-character name does not become a 100 000-character message."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]!r}..."
    return repr(value)


def check_one_name(value: str, *, option: str, error: Type[BundleError], code: str = "joined_names") -> str:
    """Return ``value``, given to ``option``, an option that takes one role or scope name per use
    and is repeated for more (``targets add --role``, ``variables set --role``): a comma in it is
    refused (``error(code)``), as a list typed the way ``trust add --projects`` takes one would
    otherwise become one name that every listing shows as two (newuser36 finding 9, decision 976)."""
    if "," in value:
        parts = [p.strip() for p in value.split(",") if p.strip()]
        again = " ".join(f"{option} {p if re.fullmatch(r'[A-Za-z0-9._+@-]+', p) else repr(p)}" for p in parts)
        raise error(f"{option} {quoted(value)}: {option} takes one name, not a list (a comma in a name cannot be "
                    f"told from two names); repeat the option for each name: {again}", code=code,
                    details={"field": option, "value": quoted(value), "problem": "holds a comma"})
    return value


def _raise(error: Type[BundleError], code: str, what: str, value: object, problem: str, rule: str) -> BundleError:
    return error(f"{what} {quoted(value)} {problem}: {rule}.", code=code,
                 details={"field": what, "value": quoted(value), "problem": problem})


def check_name(value: object, *, what: str, error: Type[BundleError], code: str) -> str:
    """Return ``value`` if it is a valid name, else raise ``error(code)`` naming ``what``.

    ``what`` names the field for the message (``"target name"``, ``"packages[2].id"``).
    """
    problem = name_problem(value)
    if problem:
        raise _raise(error, code, what, value, problem, NAME_RULE)
    return value  # type: ignore[return-value]


def check_label(value: object, *, what: str, error: Type[BundleError], code: str) -> str:
    """Return ``value`` if it is a valid label, else raise ``error(code)`` naming ``what``
    (``"environment"``, ``"variable name"``)."""
    problem = label_problem(value)
    if problem:
        raise _raise(error, code, what, value, problem, LABEL_RULE)
    return value  # type: ignore[return-value]


def check_environment(value: object, *, error: Type[BundleError], code: str) -> str:
    """Return ``value`` if it is a valid label and not a name in parentheses, which bundlekit's
    displays keep for their own columns (the dashboard's ``(awaiting)``: a real environment of
    that name merged with it and its deployments left the grid, review v32-11); else raise
    ``error(code)``."""
    check_label(value, what="environment", error=error, code=code)
    text = str(value)
    if text.startswith("(") and text.endswith(")"):
        raise _raise(error, code, "environment", value, "is a name in parentheses",
                     "those are kept for bundlekit's own columns, such as the dashboard's (awaiting); name the "
                     "environment without the surrounding parentheses")
    return text


def check_version(value: object, *, what: str, error: Type[BundleError], code: str) -> str:
    """Return ``value`` if it is a valid release version, else raise ``error(code)`` naming ``what``."""
    problem = version_problem(value)
    if problem:
        raise _raise(error, code, what, value, problem, VERSION_RULE)
    return value  # type: ignore[return-value]


def check_path(value: object, *, what: str, error: Type[BundleError], code: str, glob: bool = False,
               normalise: bool = False) -> str:
    """Return the (normalised) relative path ``value``, or raise ``error(code)`` naming ``what``."""
    problem = path_problem(value, glob=glob, normalise=normalise)
    if problem:
        raise _raise(error, code, what, value, problem, PATH_RULE)
    assert isinstance(value, str)
    return normalise_path(value) if normalise else value


def check_file_name(value: object, *, what: str, error: Type[BundleError], code: str, hidden: bool = True) -> str:
    """Return ``value`` if it is a valid single file name (see :func:`file_name_problem`), else
    raise ``error(code)`` naming ``what``."""
    problem = file_name_problem(value, hidden=hidden)
    if problem:
        raise _raise(error, code, what, value, problem, "use a plain file name such as 'app-1.4.0.zip'")
    return value  # type: ignore[return-value]


def fold(name: str) -> str:
    """The key a case-insensitive, Unicode-normalising file system compares names by.

    Unicode canonical caseless matching (Unicode 15, section 3.13, D145):
    ``NFD(casefold(NFD(name)))``; two names with the same key are the same file on Windows
    (NTFS) and macOS (APFS, HFS+) by default.
    """
    return unicodedata.normalize("NFD", unicodedata.normalize("NFD", name).casefold())


def collisions(names: Iterable[str]) -> List[Tuple[str, str]]:
    """Pairs ``(first, later)`` of names in ``names`` that fold to the same key (:func:`fold`),
    in the order the later one appears; exact repeats are pairs too."""
    seen: dict = {}
    out: List[Tuple[str, str]] = []
    for name in names:
        key = fold(name)
        if key in seen:
            out.append((seen[key], name))
        else:
            seen[key] = name
    return out


#: The rules as JSON Schema formats, for ``format`` in bundlekit's schemas (spec/names.md, §6):
#: format -> (why a value breaks it, or None; the one-line rule for the message).
SCHEMA_FORMATS = {
    "bundlekit-name": (name_problem, NAME_RULE),
    "bundlekit-label": (label_problem, LABEL_RULE),
    "bundlekit-version": (version_problem, VERSION_RULE),
}

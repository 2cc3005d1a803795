"""Files of an extracted package that a step rewrites: finding them, and substituting variables.

This module owns two rules of the package step (``spec/deploy.md`` section 6): a file is
touched only if it is a regular file inside the package folder (a link that leads out, or a
folder, is passed over), and a rewritten file is written atomically, keeping its mode and its
own encoding (:mod:`bundlekit.package.textfiles`), only when its text changed. Shipped to
targets: Python 3.8 or newer.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from bundlekit.errors import DeployError
from bundlekit.package.textfiles import rewrite_text
from bundlekit.core.atomic import AtomicFile
from bundlekit.core.names import check_path

__all__ = ["matching_files", "substitute_file", "apply_structured_file", "MAX_TEMPLATE_BYTES"]

#: Text files rewritten by substitution are read whole; larger ones are refused.
MAX_TEMPLATE_BYTES = 32 << 20


def matching_files(folder: Path, names: Sequence[str]) -> List[Tuple[str, Path]]:
    """``(relative path, path)`` of each regular file under ``folder`` named in ``names``, sorted.

    ``names`` are member paths as the plan lists them (matched literally, not as patterns).
    """
    base = Path(folder).resolve()
    found: Dict[str, Path] = {}
    for name in names:
        check_path(name, what="file", normalise=True, error=DeployError, code="invalid_file_pattern")
        for match in base.glob(glob.escape(name)):
            # Links could lead out of the package; only real files inside it are touched.
            if match.is_symlink() or not match.is_file():
                continue
            resolved = match.resolve()
            if os.path.commonpath([str(resolved), str(base)]) != str(base):
                continue
            found[match.relative_to(base).as_posix()] = match
    return sorted(found.items())


def _write(path: Path, data: bytes, mode: int, code: str) -> None:
    try:
        with AtomicFile(path, mode) as out:
            out.write(data)
    except OSError as error:
        raise DeployError(f"cannot write {path}: {error.strerror}.", code=code) from None


def substitute_file(path: Path, render: Callable[[str], str]) -> bool:
    """Rewrite ``path`` as ``render(text)`` in its own encoding; True (it was substituted) unless refused.

    Raises DeployError ``substitution_file_too_large``, ``substitution_file_not_text``,
    ``substitution_failed`` (I/O); ``render``'s own errors pass through.
    """
    try:
        info = path.stat()
        if info.st_size > MAX_TEMPLATE_BYTES:
            raise DeployError(f"file {path} is too large to substitute ({info.st_size} bytes).",
                              code="substitution_file_too_large")
        data = path.read_bytes()
    except OSError as error:
        raise DeployError(f"cannot read {path}: {error.strerror}.", code="substitution_failed") from None
    try:
        rendered = rewrite_text(data, render)
    except UnicodeDecodeError:
        raise DeployError(
            f"file {path} is not text (UTF-8, or UTF-16/UTF-32 with a byte order mark), so variables "
            "cannot be substituted in it. Remove it from the step's substitution patterns.",
            code="substitution_file_not_text",
        ) from None
    if rendered is not None:
        _write(path, rendered, info.st_mode & 0o7777, "substitution_failed")
    return True


def apply_structured_file(path: Path, fmt: str, variables: Mapping[str, str]) -> Tuple[List[str], List[str]]:
    """Apply structured configuration ``variables`` to ``path`` read as ``fmt``; the replaced
    paths, and the warnings about what matched but could not be replaced (for the run's log).

    The file is rewritten (atomically, in its own encoding) only when something matched. The
    format modules are imported here, so a target that lacks a library a format needs (lxml for
    XML) fails only the steps that use that format (``structured_config_unavailable``).
    Raises DeployError ``invalid_structured_config``, ``structured_config_unreadable``,
    ``structured_config_unwritable``.
    """
    try:
        from bundlekit.runtime.structured import MAX_CONFIG_BYTES, ConfigParseError, apply_config
    except ImportError as error:
        raise DeployError(f"structured configuration of {path.name} ({fmt}) needs {error.name or error}, which "
                          "is not installed for this target's python3; install it there (Debian: "
                          f"python3-{error.name or 'lxml'}) or leave the file out of structured_config.",
                          code="structured_config_unavailable") from None
    try:
        info = path.stat()
        if info.st_size > MAX_CONFIG_BYTES:
            raise DeployError(f"configuration file {path} is {info.st_size} bytes, above the "
                              f"{MAX_CONFIG_BYTES}-byte limit.", code="invalid_structured_config")
        data = path.read_bytes()
    except OSError as error:
        raise DeployError(f"cannot read configuration file {path}: {error.strerror}.",
                          code="structured_config_unreadable") from None
    replaced: List[str] = []
    warnings: List[str] = []

    def change(text: str) -> Optional[str]:
        edit = apply_config(text, variables, (fmt,))[1]
        replaced.extend(where for _, where in edit.replaced)
        warnings.extend(edit.warnings)
        return edit.text

    try:
        rewritten = rewrite_text(data, change)
    except UnicodeDecodeError as error:
        raise DeployError(f"configuration file {path} is not text (byte {error.start}).",
                          code="invalid_structured_config") from None
    except ImportError as error:
        raise DeployError(f"structured configuration of {path.name} ({fmt}) needs {error.name or error}, which "
                          "is not installed for this target's python3; install it there (Debian: "
                          f"python3-{error.name or 'lxml'}) or leave the file out of structured_config.",
                          code="structured_config_unavailable") from None
    except ConfigParseError as error:
        raise DeployError(f"configuration file {path} is {error}. Fix the file in the package.",
                          code="invalid_structured_config") from None
    if rewritten is not None:
        _write(path, rewritten, info.st_mode & 0o7777, "structured_config_unwritable")
    return replaced, warnings

"""Deployment targets: where a step's packages go and its scripts run.

This module owns the interface between the deploy engine and a machine. The engine only
ever talks to :class:`Target`; today the one implementation is :class:`LocalFolderTarget`
(an application root folder on this machine). An SSH target later implements the same
methods over a connection, and the engine does not change. Paths returned by a target are
handles in the target's own file system: the engine passes them back to the same target
and never opens them itself. See ``docs/decisions/044-deployment-targets.md``.
"""

from __future__ import annotations

import glob
import hashlib
import re
import shutil
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath

from bundlekit.core.atomic import AtomicFile
from bundlekit.core.names import check_name, check_path
from bundlekit.core.progress import Advance
from bundlekit.deploy.structured import MAX_CONFIG_BYTES, ConfigParseError, apply_config
from bundlekit.package.textfiles import decode_text, encode_text
from bundlekit.deploy.masking import Masker
from bundlekit.deploy.runner import ScriptResult, run_script
from bundlekit.errors import DeployError
from bundlekit.package.extract import extract_package

__all__ = ["Target", "LocalFolderTarget", "WORK_FOLDER"]

#: Folder under a local target's root holding per-deployment step working folders.
WORK_FOLDER = ".bundlekit-work"
#: Text files rewritten by substitution are read whole; larger ones are refused.
MAX_TEMPLATE_BYTES = 32 << 20


class Target(ABC):
    """A deployment target: identity (``name``, ``environment``, ``roles``) and operations.

    Every operation raises :class:`~bundlekit.errors.DeployError` on refusal or failure.
    """

    __slots__ = ()

    name: str
    environment: str
    roles: frozenset[str]

    def has_role(self, roles: Iterable[str]) -> bool:
        """Whether the target carries any of ``roles`` (role names are case-insensitive)."""
        mine = {role.casefold() for role in self.roles}
        return any(role.casefold() in mine for role in roles)

    @abstractmethod
    def prepare_workdir(self, step: str, deployment_id: str) -> PurePath:
        """A fresh, empty working folder for ``step`` of deployment ``deployment_id``."""

    @abstractmethod
    def install_package(self, archive: Path, package_id: str, version: str, *, replace: bool = False,
                        progress: Advance | None = None) -> PurePath:
        """Extract the local ``archive`` to the target's folder for ``package_id``/``version``;
        ``progress`` (``core.progress``) is told the bytes moved and extracted."""

    @abstractmethod
    def run_script(
        self,
        syntax: str,
        script: str,
        *,
        workdir: PurePath,
        variables: Mapping[str, str],
        masker: Masker,
        timeout: float = 3600.0,
        env: Mapping[str, str] | None = None,
        cancel: threading.Event | None = None,
    ) -> ScriptResult:
        """Run an already-substituted script in ``workdir`` (see :mod:`bundlekit.deploy.runner`)."""

    @abstractmethod
    def substitute_files(self, folder: PurePath, patterns: Sequence[str], render: Callable[[str], str]) -> list[str]:
        """Rewrite each text file matching ``patterns`` under ``folder`` as ``render(text)``.

        ``render`` is the substitution engine (the target does not know the syntax).
        Returns the matched files, relative to ``folder``, sorted.
        """

    @abstractmethod
    def replace_structured_config(
        self, folder: PurePath, files: Sequence[tuple[str, str]], variables: Mapping[str, str]
    ) -> dict[str, list[str]]:
        """Apply structured configuration variables to each ``(file, format)`` under ``folder``
        (format ``json``, ``yaml``, ``xml`` or ``properties``): ``{file: [replaced paths]}``.

        A file is rewritten (atomically, in its own encoding) only when something matched.
        """


def _component(kind: str, value: str) -> str:
    # Package ids, versions and deployment ids become folder names on the target.
    return check_name(value, what=kind, error=DeployError, code="invalid_name")


def _step_folder(step: str) -> str:
    # Step names are free text ("Deploy web/api"): a readable slug plus a hash keeps
    # folders distinct for names that slug alike.
    slug = re.sub(r"[^a-z0-9]+", "-", step.lower()).strip("-")[:40] or "step"
    return f"{slug}-{hashlib.sha256(step.encode('utf-8')).hexdigest()[:8]}"


@dataclass(frozen=True, slots=True)
class LocalFolderTarget(Target):
    """A target that is a folder on this machine: packages go to ``<root>/<id>/<version>``."""

    name: str
    environment: str
    roles: frozenset[str] = field(default_factory=frozenset)
    root: Path = field(default_factory=Path.cwd)

    def __post_init__(self) -> None:
        for label, value in (("name", self.name), ("environment", self.environment)):
            if not isinstance(value, str) or not value.strip():
                raise DeployError(f"a local target needs a non-empty {label}.", code="invalid_target")
        roles = frozenset(self.roles)
        if any(not isinstance(role, str) or not role.strip() for role in roles):
            raise DeployError(f"target {self.name!r}: every role must be a non-empty name.",
                              code="invalid_target")
        object.__setattr__(self, "roles", roles)
        object.__setattr__(self, "root", Path(self.root).absolute())

    def _inside(self, path: PurePath, what: str) -> Path:
        resolved = Path(path).resolve()
        if not resolved.is_relative_to(self.root.resolve()):
            raise DeployError(
                f"{what} {path} is outside target {self.name!r} (root {self.root}).",
                code="path_outside_target",
            )
        return resolved

    def prepare_workdir(self, step: str, deployment_id: str) -> Path:
        folder = self.root / WORK_FOLDER / _component("deployment id", deployment_id) / _step_folder(step)
        self._inside(folder, "working folder")  # before deleting or creating anything: links may lead out
        try:
            if folder.exists():
                shutil.rmtree(folder)  # a re-run of the same step starts clean
            folder.mkdir(parents=True, mode=0o700)
        except OSError as error:
            raise DeployError(f"cannot create working folder {folder}: {error.strerror}.",
                              code="workdir_unusable") from None
        return folder

    def install_package(self, archive: Path, package_id: str, version: str, *, replace: bool = False,
                        progress: Advance | None = None) -> Path:
        dest = self.root / _component("package id", package_id) / _component("package version", version)
        extract_package(Path(archive), dest, replace=replace, progress=progress)
        return dest

    def run_script(
        self,
        syntax: str,
        script: str,
        *,
        workdir: PurePath,
        variables: Mapping[str, str],
        masker: Masker,
        timeout: float = 3600.0,
        env: Mapping[str, str] | None = None,
        cancel: threading.Event | None = None,
    ) -> ScriptResult:
        folder = self._inside(workdir, "working folder")
        return run_script(syntax, script, workdir=folder, variables=variables, masker=masker,
                          timeout=timeout, env=env, cancel=cancel)

    def _matches(self, folder: PurePath, patterns: Sequence[str]) -> list[tuple[str, Path]]:
        base = self._inside(folder, "folder")
        found: dict[str, Path] = {}
        for pattern in patterns:
            check_path(pattern, what="file pattern", glob=True, normalise=True, error=DeployError,
                       code="invalid_file_pattern")
            for match in base.glob(pattern):
                # Links could lead out of the package; only real files inside it are touched.
                if match.is_symlink() or not match.is_file():
                    continue
                if not match.resolve().is_relative_to(base):
                    continue
                found[match.relative_to(base).as_posix()] = match
        return sorted(found.items())

    def substitute_files(self, folder: PurePath, patterns: Sequence[str], render: Callable[[str], str]) -> list[str]:
        done: list[str] = []
        for relative, path in self._matches(folder, patterns):
            try:
                info = path.stat()
                if info.st_size > MAX_TEMPLATE_BYTES:
                    raise DeployError(f"file {path} is too large to substitute ({info.st_size} bytes).",
                                      code="substitution_file_too_large")
                data = path.read_bytes()
            except OSError as error:
                raise DeployError(f"cannot read {path}: {error.strerror}.", code="substitution_failed") from None
            try:
                text, encoding = decode_text(data)
            except UnicodeDecodeError:
                raise DeployError(
                    f"file {path} is not text (UTF-8, or UTF-16/UTF-32 with a byte order mark), so variables "
                    "cannot be substituted in it. Remove it from the step's substitution patterns.",
                    code="substitution_file_not_text",
                ) from None
            rendered = render(text)
            if rendered != text:
                self._write(path, encode_text(rendered, encoding), info.st_mode & 0o7777, "substitution_failed")
            done.append(relative)
        return done

    @staticmethod
    def _write(path: Path, data: bytes, mode: int, code: str) -> None:
        try:
            with AtomicFile(path, mode) as out:
                out.write(data)
        except OSError as error:
            raise DeployError(f"cannot write {path}: {error.strerror}.", code=code) from None

    def replace_structured_config(
        self, folder: PurePath, files: Sequence[tuple[str, str]], variables: Mapping[str, str]
    ) -> dict[str, list[str]]:
        formats = dict(files)
        out: dict[str, list[str]] = {}
        for relative, path in self._matches(folder, [glob.escape(file) for file in formats]):
            try:
                info = path.stat()
                if info.st_size > MAX_CONFIG_BYTES:
                    raise DeployError(f"configuration file {path} is {info.st_size} bytes, above the "
                                      f"{MAX_CONFIG_BYTES}-byte limit.", code="invalid_structured_config")
                text, encoding = decode_text(path.read_bytes())
            except OSError as error:
                raise DeployError(f"cannot read configuration file {path}: {error.strerror}.",
                                  code="structured_config_unreadable") from None
            except UnicodeDecodeError as error:
                raise DeployError(f"configuration file {path} is not text (byte {error.start}).",
                                  code="invalid_structured_config") from None
            try:
                _, edit = apply_config(text, variables, (formats[relative],))
            except ConfigParseError as error:
                raise DeployError(f"configuration file {path} is {error}. Fix the file in the package.",
                                  code="invalid_structured_config") from None
            if edit.text is not None:
                self._write(path, encode_text(edit.text, encoding), info.st_mode & 0o7777,
                            "structured_config_unwritable")
            out[relative] = [where for _, where in edit.replaced]
        return out

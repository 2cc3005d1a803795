"""Deployment targets: where a step's packages go and its scripts run.

This module owns the interface between the deploy engine and a machine. The engine only
ever talks to :class:`Target`; today the one implementation is :class:`LocalFolderTarget`
(an application root folder on this machine). An SSH target later implements the same
methods over a connection, and the engine does not change. Paths returned by a target are
handles in the target's own file system: the engine passes them back to the same target
and never opens them itself. See ``docs/decisions/044-deployment-targets.md``.
"""

from __future__ import annotations

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
from bundlekit.deploy.jsonconfig import replace_json_values
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
    def install_package(self, archive: Path, package_id: str, version: str, *, replace: bool = False) -> PurePath:
        """Extract the local ``archive`` to the target's folder for ``package_id``/``version``."""

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
    def replace_json_config(
        self, folder: PurePath, patterns: Sequence[str], variables: Mapping[str, str]
    ) -> dict[str, list[str]]:
        """Apply structured JSON variables to matching files: ``{file: [replaced key paths]}``."""


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
        try:
            if folder.exists():
                shutil.rmtree(folder)  # a re-run of the same step starts clean
            folder.mkdir(parents=True, mode=0o700)
        except OSError as error:
            raise DeployError(f"cannot create working folder {folder}: {error.strerror}.",
                              code="workdir_unusable") from None
        return folder

    def install_package(self, archive: Path, package_id: str, version: str, *, replace: bool = False) -> Path:
        dest = self.root / _component("package id", package_id) / _component("package version", version)
        extract_package(Path(archive), dest, replace=replace)
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
            bom = data.startswith(b"\xef\xbb\xbf")
            try:
                text = data[3:].decode("utf-8") if bom else data.decode("utf-8")
            except UnicodeDecodeError:
                raise DeployError(
                    f"file {path} is not UTF-8 text, so variables cannot be substituted in it. "
                    "Remove it from the step's substitution patterns.",
                    code="substitution_file_not_text",
                ) from None
            rendered = render(text)
            if rendered != text:
                try:
                    with AtomicFile(path, info.st_mode & 0o7777) as out:
                        out.write((b"\xef\xbb\xbf" if bom else b"") + rendered.encode("utf-8"))
                except OSError as error:
                    raise DeployError(f"cannot write {path}: {error.strerror}.",
                                      code="substitution_failed") from None
            done.append(relative)
        return done

    def replace_json_config(
        self, folder: PurePath, patterns: Sequence[str], variables: Mapping[str, str]
    ) -> dict[str, list[str]]:
        return {relative: replace_json_values(path, variables) for relative, path in self._matches(folder, patterns)}

"""Which members of a package structured configuration variables apply to, and why.

One rule for the deploy preflight (:mod:`bundlekit.deploy.plan`) and for lint
(:mod:`bundlekit.export.lint_configs`), so lint parses exactly the files a deployment will
(``spec/deploy.md`` section 7): the step's ``structured_config`` globs (format by name, then
content), the ``.json`` files among its ``substitute`` patterns, and ``appsettings.json`` and
``appsettings.<environment>.json`` at the package root (JSON only; decision 047). Runs in the
zone only (not shipped to targets).
"""

from __future__ import annotations

import glob
from typing import Dict, List, Optional, Sequence, Tuple

from bundlekit.core.names import path_problem
from bundlekit.package.archive import member_matches
from bundlekit.runtime.structured import formats_for

__all__ = ["json_config_patterns", "structured_files", "config_fix"]


def json_config_patterns(substitute: Sequence[str], environment: str) -> List[str]:
    """The files JSON configuration variables apply to automatically in ``environment``.

    ``appsettings.<environment>.json`` is left out when no package member can have that name
    (an environment such as ``EU:West`` or ``A|B``: members follow spec/names.md), so such an
    environment deploys like any other instead of failing with ``invalid_file_pattern``.
    """
    chosen = [p for p in substitute if p.lower().endswith(".json")]
    own = f"appsettings.{glob.escape(environment)}.json"
    return chosen + ["appsettings.json"] + ([own] if path_problem(own, glob=True) is None else [])


def structured_files(names: Sequence[str], substitute: Sequence[str], structured_config: Sequence[str],
                     environment: str) -> Dict[str, Tuple[str, ...]]:
    """Package member -> the formats to try, for every member of ``names`` structured
    configuration variables apply to in ``environment``."""
    json_patterns = json_config_patterns(substitute, environment)
    out: Dict[str, Tuple[str, ...]] = {}
    for name in names:
        formats = _formats(name, structured_config, json_patterns)
        if formats is not None:
            out[name] = formats
    return out


def _formats(name: str, structured_config: Sequence[str], json_patterns: Sequence[str]) -> Optional[Tuple[str, ...]]:
    if member_matches(name, structured_config):
        return formats_for(name)
    if member_matches(name, json_patterns):
        return ("json",)
    return None


def config_fix(name: str, substitute: Sequence[str], structured_config: Sequence[str]) -> str:
    """What to do, besides fixing the file, about member ``name`` that does not parse: the
    step key that brought it in, or the automatic rule when no key did."""
    if member_matches(name, structured_config):
        return "remove it from the step's structured_config"
    if member_matches(name, [p for p in substitute if p.lower().endswith(".json")]):
        return "leave it out of the step's substitute patterns (the .json files they match are configured too)"
    return "rename it: appsettings.json and appsettings.<environment>.json are always configured"

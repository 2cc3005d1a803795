"""Cross-reference checks of a manifest whose schema is valid (spec/bundle-format.md §4-§7):
what the JSON Schema cannot say, such as names that become paths, blob references and uniqueness.
Pure: no files, no clock."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from bundlekit.core.clock import utc_text
from bundlekit.core.names import check_file_name, check_name, check_path
from bundlekit.errors import FormatError

if TYPE_CHECKING:
    from bundlekit.format.manifest import Manifest, PackageRef

__all__ = ["cross_check", "contradicted_success"]

#: Run states that fail a deployment: the engine records Success only when no run ended in one
#: (``deploy/model.py`` ``FAILED_STATES``).
_FAILED_RUNS = frozenset({"Failed", "Canceled", "TimedOut"})


def _check_names(m: Manifest, where: str) -> None:
    """Every name and path in the manifest that becomes a file, folder or key somewhere follows
    :mod:`bundlekit.core.names` (spec/bundle-format.md §4.1), checked before anything is used:
    so ``inspect``, ``verify``, ``import --dry-run`` and ``import`` all refuse what a deployment
    would. Labels (step, role, environment and variable names) are checked by the schema; they
    never become paths (a step's folder is a slug and a hash of its name)."""
    def name(value: object, field: str) -> None:
        check_name(value, what=f"{where}: {field}", error=FormatError, code="invalid_manifest")

    name(m.source.name, "source.name")
    name(m.destination.name, "destination.name")
    for i, p in enumerate(m.packages):
        name(p.id, f"packages[{i}].id")
        name(p.version, f"packages[{i}].version")
        check_file_name(p.file, what=f"{where}: packages[{i}].file", error=FormatError, code="invalid_manifest")
    if m.kind == "release":
        name(m.project.get("slug"), "project.slug")
        for i, s in enumerate(m.steps):
            for key, patterns in (("substitute", s.substitute), ("structured_config", s.structured_config)):
                for j, pattern in enumerate(patterns):
                    check_path(pattern, what=f"{where}: steps[{i}].{key}[{j}]", glob=True, normalise=True,
                               error=FormatError, code="invalid_manifest")
    for i, r in enumerate(m.receipts):
        name(r.get("deployment_id"), f"receipts[{i}].deployment_id")


def _unique(items: tuple[Mapping[str, Any], ...], key: str, what: str, where: str) -> None:
    ids = [i[key] for i in items]
    if len(set(ids)) != len(ids):
        raise FormatError(f"{where}: {what} is listed twice", code="invalid_manifest")


def cross_check(m: Manifest, where: str) -> None:
    """Refuse a manifest whose parts disagree (``FormatError``): names and paths that are not
    safe (``invalid_manifest``), ``expires`` not after ``created``, a blob listed twice, a package
    whose blob is missing or of another size, an id and version listed twice, an unreferenced blob
    (``unreferenced_blob``), a receipt log blob missing, two steps sharing a name, a bad delta
    (``invalid_delta``) (spec/bundle-format.md §4, §5, §7)."""
    _check_names(m, where)
    if m.expires <= m.created:
        raise FormatError(f"{where}: expires ({utc_text(m.expires)}) is not after created ({utc_text(m.created)})",
                          code="invalid_manifest")
    digests = [b.digest for b in m.blobs]
    if len(set(digests)) != len(digests):
        raise FormatError(f"{where}: the same blob is listed twice", code="invalid_manifest")
    referenced = set()
    for i, p in enumerate(m.packages):
        if p.delta is not None:
            _check_delta(m, i, p, where)
            if p.delta.data is not None:
                referenced.add(p.delta.data)
        if p.included:
            blob = m.blob_for(p.sha256)
            if blob is None:
                raise FormatError(f"{where}: packages[{i}] ({p.id} {p.version}) is marked included but no blob "
                                  "has its digest", code="invalid_manifest")
            if blob.size != p.size:
                raise FormatError(f"{where}: packages[{i}] size {p.size} differs from its blob's {blob.size}",
                                  code="invalid_manifest")
            referenced.add(p.sha256)
    keys = [(p.id.lower(), p.version.lower()) for p in m.packages]
    if len(set(keys)) != len(keys):
        raise FormatError(f"{where}: a package id and version is listed twice", code="invalid_manifest")
    if m.kind == "receipt":
        referenced |= {run["log"] for r in m.receipts for run in r["runs"] if "log" in run}
        _check_withheld(m, where)
        _unique(m.receipts, "deployment_id", "a deployment", where)
        _unique(m.refusals, "refusal_id", "a refusal", where)
    extra = set(digests) - referenced
    if extra:
        raise FormatError(f"{where}: blob(s) {sorted(extra)[:3]} are not referenced by the manifest "
                          "(unlisted data is refused)", code="unreferenced_blob")
    if m.kind == "receipt":
        missing = referenced - set(digests)
        if missing:
            raise FormatError(f"{where}: log blob(s) {sorted(missing)[:3]} are referenced but not included",
                              code="invalid_manifest")
    if m.kind == "release":
        names = [s.name.lower() for s in m.steps]
        if len(set(names)) != len(names):
            raise FormatError(f"{where}: two steps share a name", code="invalid_manifest")
        _unique(m.attestations, "deployment_id", "an attested deployment", where)


def _check_withheld(m: Manifest, where: str) -> None:
    """Format 1.4: an output a run withheld is named once and is not also carried (names are
    case-insensitive; a run may carry one name several times, set again by its script)."""
    for i, r in enumerate(m.receipts):
        for j, run in enumerate(r["runs"]):
            withheld = [n.casefold() for n in run.get("withheld", ())]
            if len(set(withheld)) != len(withheld) or set(withheld) & {o["name"].casefold() for o in run["outputs"]}:
                raise FormatError(f"{where}: receipts[{i}].runs[{j}] names a withheld output variable twice, or "
                                  "among the outputs it carries", code="invalid_manifest")


def _check_delta(m: Manifest, i: int, p: PackageRef, where: str) -> None:
    assert p.delta is not None
    at = f"{where}: packages[{i}].delta"
    if p.included:
        raise FormatError(f"{at}: a package is either included or rebuilt from a base, not both",
                          code="invalid_delta")
    if m.kind != "release":
        raise FormatError(f"{at}: only release bundles carry delta packages", code="invalid_delta")
    base = p.delta.base
    check_name(base.id, what=f"{at}.base.id", error=FormatError, code="invalid_manifest")
    check_name(base.version, what=f"{at}.base.version", error=FormatError, code="invalid_manifest")
    if base.sha256 == p.sha256:
        raise FormatError(f"{at}: the base is the package itself; list it by reference", code="invalid_delta")
    data = m.blob_for(p.delta.data) if p.delta.data is not None else None
    p.delta.check(p.size, data.size if data is not None else None, at)


def contradicted_success(entry: Mapping[str, Any], steps: int | None = None) -> str | None:
    """Why a receipt entry (``receipts[i]``) contradicts itself, or None: it says ``Success`` while
    one of its own runs ended Failed, Canceled or TimedOut (a deployment with such a run is
    recorded Failed or Canceled), or, when the reader knows the release has ``steps`` steps (one
    or more), while it reports no run at all (every step of a deployment leaves a run, a skipped
    one too; decision 721). Callers refuse such an entry (``receipt_mismatch``): it is neither
    shown as a success nor counted as lifecycle proof (review r1015a A8)."""
    if entry.get("state") != "Success":
        return None
    if steps and not entry.get("runs"):
        return (f"it says Success but reports no run, although the release has {steps} step(s) and every step of "
                "a deployment leaves a run (a skipped one too)")
    for run in entry.get("runs") or ():
        if isinstance(run, Mapping) and run.get("state") in _FAILED_RUNS:
            on = f" on target {run.get('target')!r}" if run.get("target") else ""
            return f"it says Success, but its run of step {run.get('step')!r}{on} ended {run.get('state')}"
    return None

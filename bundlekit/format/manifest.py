"""Manifest models: the signed description of a bundle (spec/bundle-format.md §4).

``parse_manifest(bytes)`` is the only way from bytes to a :class:`Manifest`: strict
msgpack decoding, JSON Schema validation (``bundlekit/schemas/manifest.schema.json``),
then semantic checks (blob layout, package/blob cross references, sequence/expiry
order). A :class:`Manifest` that exists is valid. Pure: no files, no clock.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Mapping

from bundlekit import __version__
from bundlekit.errors import FormatError
from bundlekit.format import codec
from bundlekit.format.container import BlobRecord
from bundlekit.format.lifecycle import Lifecycle, release_digest
from bundlekit.format.versions import stated_writer, unsupported_manifest_format
from bundlekit.format.delta import DeltaRef
from bundlekit.format.manifest_checks import cross_check
from bundlekit.format.schemacheck import schema_errors

__all__ = [
    "FORMAT_ID",
    "WRITER_NAME",
    "writer_record",
    "MAX_SECONDS",
    "MAX_SEQUENCE",
    "SCOPE_DIMENSIONS",
    "ZoneRef",
    "Step",
    "Variable",
    "Placeholder",
    "OutputRef",
    "PackageRef",
    "Manifest",
    "parse_manifest",
    "manifest_schema",
    "schema_errors",
]

FORMAT_ID = "bundlekit/1"
#: The ``writer.name`` this bundlekit records (format 1.4, spec/bundle-format.md §10).
WRITER_NAME = "bundlekit"
#: The last second a manifest's times may name (9999-12-31 23:59:59 UTC): the schema's maximum for
#: ``created``, ``expires`` and ``issued`` (milliseconds fields: one thousand times it plus 999),
#: so every time a manifest states can be shown as a date.
MAX_SECONDS = 253402300799
#: The largest sequence number (2**53 - 1, the schema's maximum: exact in every JSON reader).
MAX_SEQUENCE = (1 << 53) - 1
SCOPE_DIMENSIONS = ("environment", "role", "machine", "step", "channel", "tenant")

Scope = Mapping[str, tuple[str, ...]]


@lru_cache(maxsize=None)
def manifest_schema() -> dict[str, Any]:
    text = resources.files("bundlekit").joinpath("schemas/manifest.schema.json").read_text("utf-8")
    return json.loads(text)  # type: ignore[no-any-return]


@lru_cache(maxsize=None)
def _validation_schema() -> dict[str, Any]:
    """The manifest schema as the reader applies it: a delta recipe (either form) is checked by
    :class:`~bundlekit.format.recipe.Recipe` (the same rules as the schema's, with the operation
    named), because a general validator spends about 100 microseconds on each of up to
    :data:`~bundlekit.format.delta.MAX_RECIPE_OPS` listed operations, and would match a packed
    recipe's pattern over up to 22 MB of text."""
    schema = copy.deepcopy(manifest_schema())
    schema["$defs"]["delta"]["properties"]["recipe"] = {"type": ["string", "array"]}
    return schema


def _scope(d: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    return {k: tuple(d[k]) for k in SCOPE_DIMENSIONS if k in d}


def scope_to_dict(scope: Scope) -> dict[str, list[str]]:
    return {k: sorted(v) for k, v in scope.items() if v}


@dataclass(frozen=True, slots=True)
class ZoneRef:
    zone_id: str
    name: str
    key_id: str

    def to_dict(self) -> dict[str, Any]:
        return {"zone_id": self.zone_id, "name": self.name, "key_id": self.key_id}


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    type: str
    roles: tuple[str, ...] = ()
    environments: tuple[str, ...] = ()
    condition: str = "success"
    enabled: bool = True
    syntax: str | None = None
    script: str | None = None
    package: str | None = None
    substitute: tuple[str, ...] = ()
    timeout: int | None = None
    structured_config: tuple[str, ...] = ()
    #: Rolling deployment: at most this many targets run the step at once (Octopus's window size).
    window_size: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "type": self.type, "roles": list(self.roles),
                             "environments": list(self.environments), "condition": self.condition,
                             "enabled": self.enabled}
        for k in ("syntax", "script", "package", "timeout", "window_size"):
            v = getattr(self, k)
            if v is not None:
                d[k] = v
        if self.substitute:
            d["substitute"] = list(self.substitute)
        if self.structured_config:
            d["structured_config"] = list(self.structured_config)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Step":
        return cls(name=d["name"], type=d["type"], roles=tuple(d.get("roles", ())),
                   environments=tuple(d.get("environments", ())), condition=d.get("condition", "success"),
                   enabled=d.get("enabled", True), syntax=d.get("syntax"), script=d.get("script"),
                   package=d.get("package"), substitute=tuple(d.get("substitute", ())), timeout=d.get("timeout"),
                   structured_config=tuple(d.get("structured_config", ())),
                   window_size=d.get("window_size"))


@dataclass(frozen=True, slots=True)
class Variable:
    """A release variable. Sensitive ones carry ``sealed`` (base64) and never ``value``."""

    name: str
    scope: Scope = field(default_factory=dict)
    sensitive: bool = False
    value: str | None = None
    sealed: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "scope": scope_to_dict(self.scope), "sensitive": self.sensitive}
        if self.sensitive:
            d["sealed"] = self.sealed
        else:
            d["value"] = self.value
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Variable":
        return cls(d["name"], _scope(d["scope"]), d["sensitive"], d.get("value"), d.get("sealed"))


@dataclass(frozen=True, slots=True)
class Placeholder:
    """A variable whose value only the destination zone knows (a variable template).

    ``required`` (default): a deployment is refused until the zone binds a value, even when
    no step renders it (Octopus refuses a deployment with missing required values).
    """

    name: str
    scope: Scope = field(default_factory=dict)
    sensitive: bool = False
    description: str | None = None
    required: bool = True

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "scope": scope_to_dict(self.scope), "sensitive": self.sensitive}
        if self.description:
            d["description"] = self.description
        if not self.required:
            d["required"] = False
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Placeholder":
        return cls(d["name"], _scope(d["scope"]), d["sensitive"], d.get("description"), d.get("required", True))


@dataclass(frozen=True, slots=True)
class OutputRef:
    """A reference to an output variable, bound at deploy time."""

    step: str
    name: str
    reference: str
    used_in: tuple[str, ...]
    machine: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"step": self.step, "name": self.name, "reference": self.reference,
                             "used_in": list(self.used_in)}
        if self.machine is not None:
            d["machine"] = self.machine
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "OutputRef":
        return cls(d["step"], d["name"], d["reference"], tuple(d["used_in"]), d.get("machine"))


@dataclass(frozen=True, slots=True)
class PackageRef:
    """A package: included (its bytes are a blob), by reference (id, version, hash only), or,
    from format 1.2, a ``delta`` rebuilt from a package the destination holds (not included)."""

    id: str
    version: str
    file: str
    size: int
    sha256: str
    included: bool = True
    delta: DeltaRef | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "version": self.version, "file": self.file, "size": self.size,
                             "sha256": self.sha256, "included": self.included}
        if self.delta is not None:
            d["delta"] = self.delta.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "package") -> "PackageRef":
        """``where`` prefixes a refusal of the ``delta`` (``invalid_delta``), e.g. ``manifest: packages[0]``."""
        delta = DeltaRef.from_dict(d["delta"], f"{where}.delta") if "delta" in d else None
        return cls(d["id"], d["version"], d["file"], d["size"], d["sha256"], d["included"], delta)


@dataclass(frozen=True, slots=True)
class Manifest:
    kind: str
    bundle_id: str
    source: ZoneRef
    destination: ZoneRef
    sequence: int
    created: int
    expires: int
    blobs: tuple[BlobRecord, ...]
    project: Mapping[str, str] = field(default_factory=dict)
    release: Mapping[str, str] = field(default_factory=dict)
    steps: tuple[Step, ...] = ()
    variables: tuple[Variable, ...] = ()
    placeholders: tuple[Placeholder, ...] = ()
    output_refs: tuple[OutputRef, ...] = ()
    packages: tuple[PackageRef, ...] = ()
    rotations: tuple[Mapping[str, Any], ...] = ()
    receipts: tuple[Mapping[str, Any], ...] = ()
    inventory: tuple[Mapping[str, Any], ...] = ()
    #: Format 1.1: the release's lifecycle (None: the release may go to any environment).
    lifecycle: Lifecycle | None = None
    #: Format 1.1: the source's own successful deployments of this release (release kind).
    attestations: tuple[Mapping[str, Any], ...] = ()
    #: Format 1.1: imports of the destination's release bundles that this zone refused (receipt kind).
    refusals: tuple[Mapping[str, Any], ...] = ()
    #: The whole decoded manifest, including fields of later minor versions and of other kinds.
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = dict(self.raw)
        d.update({
            "format": FORMAT_ID, "kind": self.kind, "bundle_id": self.bundle_id,
            "source": self.source.to_dict(), "destination": self.destination.to_dict(),
            "sequence": self.sequence, "created": self.created, "expires": self.expires,
            "blobs": [b.to_dict() for b in self.blobs],
        })
        if self.kind == "release":
            d.update({
                "project": dict(self.project), "release": dict(self.release),
                "steps": [s.to_dict() for s in self.steps],
                "variables": [v.to_dict() for v in self.variables],
                "placeholders": [p.to_dict() for p in self.placeholders],
                "output_refs": [o.to_dict() for o in self.output_refs],
                "packages": [p.to_dict() for p in self.packages],
            })
            if self.lifecycle is not None:
                d["lifecycle"] = self.lifecycle.to_dict()
            if self.attestations:
                d["attestations"] = [dict(a) for a in self.attestations]
        if self.rotations:
            d["rotations"] = [dict(r) for r in self.rotations]
        if self.kind == "receipt":
            d["receipts"] = [dict(r) for r in self.receipts]
            d["inventory"] = [dict(i) for i in self.inventory]
            if self.refusals:
                d["refusals"] = [dict(r) for r in self.refusals]
        return d

    @property
    def writer(self) -> str | None:
        """``"name version"`` of the program that wrote the bundle (format 1.4), or None for an
        older writer, which did not say."""
        w = self.raw.get("writer")
        if not isinstance(w, Mapping):
            return None
        return f"{w.get('name')} {w.get('version')}"

    def release_digest(self) -> str:
        """The release digest (§4.3) of a release manifest: the same for every bundle of the release."""
        return release_digest(
            source_zone_id=self.source.zone_id, project=self.project, release=self.release,
            steps=[s.to_dict() for s in self.steps],
            # Only these fields count (§4.3): a delta's recipe is not copied for nothing.
            packages=[{"id": p.id, "version": p.version, "sha256": p.sha256, "size": p.size} for p in self.packages],
            variables=[v.to_dict() for v in self.variables],
            placeholders=[p.to_dict() for p in self.placeholders],
            output_refs=[o.to_dict() for o in self.output_refs], lifecycle=self.lifecycle)

    def encode(self) -> bytes:
        return codec.encode(self.to_dict())

    def checked_bytes(self, where: str = "the manifest being written") -> bytes:
        """The encoded manifest, once :func:`parse_manifest` (the reader) has accepted it.

        Writers sign these bytes, never a manifest a reader would refuse (a name that breaks
        spec/names.md, a label over its length): raises the reader's ``FormatError``
        (``invalid_manifest`` with the schema's findings in ``details``).
        """
        data = self.encode()
        parse_manifest(data, where)
        return data

    def blob_for(self, digest: str) -> BlobRecord | None:
        for b in self.blobs:
            if b.digest == digest:
                return b
        return None


def _zone(d: Mapping[str, Any]) -> ZoneRef:
    return ZoneRef(d["zone_id"], d["name"], d["key_id"])


def from_dict(d: Mapping[str, Any], where: str = "manifest") -> Manifest:
    """Validate a decoded manifest and build the model (schema, then cross references)."""
    errors = schema_errors(_validation_schema(), d)
    if errors:
        more = len(errors) - 5
        if more > 0 and errors[-1].startswith("... "):  # schema_errors stopped counting
            more_text = f" (and more: {errors[-1][5:-1]})"
        else:
            more_text = f" (and {more} more)" if more > 0 else ""
        shown = "; ".join(errors[:5]) + more_text
        raise FormatError(f"{where}: invalid manifest: {shown}", code="invalid_manifest", details=errors)
    blobs = tuple(BlobRecord(b["digest"], b["size"], b["offset"], b["length"], b["stored_sha256"],
                             b["encoding"]) for b in d["blobs"])
    m = Manifest(
        kind=d["kind"], bundle_id=d["bundle_id"], source=_zone(d["source"]), destination=_zone(d["destination"]),
        sequence=d["sequence"], created=d["created"], expires=d["expires"], blobs=blobs,
        project=dict(d.get("project", {})), release=dict(d.get("release", {})),
        steps=tuple(Step.from_dict(s) for s in d.get("steps", ())),
        variables=tuple(Variable.from_dict(v) for v in d.get("variables", ())),
        placeholders=tuple(Placeholder.from_dict(p) for p in d.get("placeholders", ())),
        output_refs=tuple(OutputRef.from_dict(o) for o in d.get("output_refs", ())),
        packages=tuple(PackageRef.from_dict(p, f"{where}: packages[{i}]")
                       for i, p in enumerate(d.get("packages", ()))),
        rotations=tuple(d.get("rotations", ())),
        receipts=tuple(d.get("receipts", ())),
        inventory=tuple(d.get("inventory", ())),
        lifecycle=_lifecycle(d, where),
        attestations=tuple(d.get("attestations", ())),
        refusals=tuple(d.get("refusals", ())),
        raw=d,
    )
    cross_check(m, where)
    return m


def _lifecycle(d: Mapping[str, Any], where: str) -> Lifecycle | None:
    if "lifecycle" not in d or d.get("kind") != "release":
        return None
    try:
        return Lifecycle.from_dict(d["lifecycle"])
    except ValueError as err:
        raise FormatError(f"{where}: invalid manifest: {err}", code="invalid_manifest") from None


def writer_record() -> dict[str, str]:
    """The manifest's ``writer`` field for a bundle this bundlekit writes (format 1.4): its name and
    version, so a reader (and a person) can tell which release wrote a bundle and which to install."""
    return {"name": WRITER_NAME, "version": __version__}


def parse_manifest(data: bytes, where: str = "manifest") -> Manifest:
    """Bytes (already signature-checked by the caller) to a validated :class:`Manifest`."""
    obj = codec.decode(data, what=where)
    if not isinstance(obj, dict):
        raise FormatError(f"{where}: the manifest is not a map", code="invalid_manifest")
    fmt = obj.get("format")
    if fmt != FORMAT_ID:
        raise unsupported_manifest_format(where, fmt, stated_writer(obj))
    with codec.no_cycle_collection():  # a 1.2 recipe read in list form is a million lists
        return from_dict(obj, where)

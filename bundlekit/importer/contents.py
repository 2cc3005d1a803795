"""What a zone checks of a verified bundle before it uses it, whatever it already holds (decision 600).

Spec §6.2 verifies a bundle without any private key, so a third party can run it. A zone that
goes on to use the bundle also checks what its trust and its sealing key can tell about the
bundle alone, before any rule that depends on what earlier imports recorded (sequences,
projects, packages held):

1. a release: its source's trust policy allows its space, project and every environment it
   names (``policy_denied``);
2. every key rotation statement verifies (``invalid_rotation``), a receipt's as well;
3. a release: no two variables (placeholders included) share an identity, nor two packages an
   id (``duplicate_identity``): the merge could not tell which one a later release's entry is;
4. a release: every sealed value opens with the zone's sealing key and is UTF-8 text
   (``malformed``, ``invalid_seal``).

:func:`check_contents` is the one place these are made: ``bundlekit verify``, ``import
--dry-run`` and ``import`` all run it, through :func:`bundlekit.importer.verify.verify_bundle`,
so no two of them can disagree about a bundle. It writes nothing and reads no state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from bundlekit.errors import InputError, VerificationError
from bundlekit.format import crypto
from bundlekit.format.keyfile import RotationStatement, parse_rotation
from bundlekit.format.manifest import Manifest, scope_to_dict
from bundlekit.importer.merge_model import variable_key
from bundlekit.format.relay import relay_seal_ad
from bundlekit.trust.policy import TrustedSource, check_policy
from bundlekit.trust.relay import RelayPath

__all__ = ["Contents", "check_contents", "bundle_environments"]


@dataclass(frozen=True, slots=True)
class Contents:
    """What :func:`check_contents` found valid: the parsed rotation statements, and the clear
    value of each sensitive variable of a release by its index in ``manifest.variables``."""

    rotations: tuple[RotationStatement, ...] = ()
    opened: Mapping[int, str] = field(default_factory=dict, repr=False)


def bundle_environments(m: Manifest) -> set[str]:
    """Every environment a release names (scopes and step filters): what trust policy checks."""
    envs: set[str] = set()
    for v in list(m.variables) + list(m.placeholders):
        envs.update(v.scope.get("environment", ()))
    for s in m.steps:
        envs.update(s.environments)
    return envs


def check_contents(m: Manifest, source: TrustedSource, sealing_key: X25519PrivateKey, where: str,
                   relay: RelayPath | None = None, *, relaying: bool = False) -> Contents:
    """Run the checks of this module's docstring, in its order, on the manifest ``m`` of a bundle
    that passed spec §6.2 from trusted ``source``, for the zone whose sealing key is
    ``sealing_key``; ``where`` names the bundle in messages. A relayed release (``relay``, its
    verified hops) carries its sensitive values in its last hop, sealed again for this zone
    (spec/relay.md §5): those are opened instead of the origin's.

    Raises ``TrustError`` ``policy_denied``, ``VerificationError`` ``invalid_rotation`` and
    ``invalid_seal``, ``FormatError`` ``malformed`` (a ``sealed`` that is not canonical base64)
    and ``InputError`` ``duplicate_identity``; the first that applies. No value is ever quoted.
    A value that does not open names the zone that sealed it (the source, or the last relay) and
    what to ask of it; ``relaying`` (this zone verifies the bundle to relay it on) also says that
    nothing is relayed."""
    if m.kind == "release":
        check_policy(source, space=m.project["space"], project=m.project["name"], project_slug=m.project["slug"],
                     environments=bundle_environments(m), where=where)
    rotations = tuple(parse_rotation(r, f"{where}: rotations[{i}]") for i, r in enumerate(m.rotations))
    if m.kind != "release":
        return Contents(rotations)
    _check_identities(m, where)
    return Contents(rotations, _open_values(m, source, sealing_key, where, relay, relaying))


def _check_identities(m: Manifest, where: str) -> None:
    """Refuse two variables or placeholders of one identity (name case-insensitively, scope
    order-insensitively: ``importer/merge_model.py``), or two packages of one id. Steps of one
    name, and a package id and version listed twice, the format refuses already."""
    seen: dict[str, str] = {}
    entries = [(f"variables[{i}]", v.name, v.scope) for i, v in enumerate(m.variables)]
    entries += [(f"placeholders[{i}]", p.name, p.scope) for i, p in enumerate(m.placeholders)]
    for at, name, scope in entries:
        _once(seen, variable_key(name, scope_to_dict(scope)), at, where, "variables")
    ids: dict[str, str] = {}
    for i, p in enumerate(m.packages):
        _once(ids, p.id.lower(), f"packages[{i}]", where, "packages")


def _once(seen: dict[str, str], key: str, at: str, where: str, section: str) -> None:
    first = seen.setdefault(key, at)
    if first != at:
        hint = ("a variable's identity is its name, case-insensitively, and its scope" if section == "variables"
                else "a release uses one version of each package id, case-insensitively")
        raise InputError(f"{where}: {first} and {at} have the same identity {key!r}; {hint}, so a merge could not "
                         "tell which of them a later release changes. The source zone must fix the release and "
                         "export it again", code="duplicate_identity",
                         details={"section": section, "key": key, "entries": [first, at]})


def _open_values(m: Manifest, source: TrustedSource, key: X25519PrivateKey, where: str, relay: RelayPath | None,
                 relaying: bool) -> dict[int, str]:
    """Open every sensitive variable (proving it was sealed for this zone, bundle and variable):
    the origin's sealed values, or a relayed release's copies in its last hop."""
    copies = {c.variable: c.sealed for c in relay.last.sealed} if relay is not None else {}
    opened: dict[int, str] = {}
    for i, v in enumerate(m.variables):
        if v.sensitive:
            label = crypto.seal_label("variable", v.name, scope_to_dict(v.scope))
            if relay is not None:
                text, field = copies[i], f"{where}: relay hop {len(relay.hops)} sealed[{i}]"
                ad = relay_seal_ad(m.bundle_id, relay.last.to["key_id"], label)
            else:
                text, field = v.sealed or "", f"{where}: variables[{i}].sealed"
                ad = crypto.seal_ad(m.bundle_id, m.destination.key_id, label)
            what = f"{where}: variable {v.name!r}"
            sealed = crypto.unb64(text, field)
            try:
                plain = crypto.open_sealed(key, sealed, ad, what)
            except VerificationError as err:
                raise _unopened(err, v.name, source, relay, relaying) from None
            opened[i] = crypto.sealed_text(plain, what)  # its refusal says what to ask already
    return opened


def _unopened(err: VerificationError, name: str, source: TrustedSource, relay: RelayPath | None,
              relaying: bool) -> VerificationError:
    """``err`` (``invalid_seal``: the value of variable ``name`` does not open with this zone's
    key) saying who sealed it and what to ask of that zone (review relayatk F5): the bundle is
    signed and addressed to this zone's sealing key, so the value was sealed wrong where it was
    sealed: by the source, or by the last relay for a relayed release."""
    if relay is not None:
        sealer = relay.relays[-1].name
        ask = (f"Ask zone {sealer!r}, the last relay, which sealed it again for this zone, to relay the bundle again "
               "(or the release's source to export it again)")
    else:
        sealer = source.name
        ask = (f"Ask zone {sealer!r}, which sealed it, to export the release again: the bundle is signed and "
               "addressed to this zone's sealing key, so the value was sealed wrong there")
    done = ("; this zone cannot open it, so it does not relay the bundle (it never passes on a value it did not "
            "check): nothing was written. " if relaying else ". ")
    return VerificationError(f"{err.message}{done}{ask}", code="invalid_seal",
                             details={"variable": name, "sealed_by": sealer})

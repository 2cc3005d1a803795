"""Who may sign what: signature counting and source policy (pure; no I/O, no clock).

Rules (spec/bundle-format.md §6):

* Every signature record in a bundle must verify against the public key it carries;
  one bad record refuses the whole bundle (``invalid_signature``), so no byte of the
  signature section can change unnoticed.
* The source is the trusted zone whose current zone key signed. Without one: ``untrusted``.
* The threshold counts *distinct* keys that are trusted for that source (its zone key plus
  the approvers added with ``trust add-signer``) and not revoked. Unknown keys are ignored.
  The zone key is always required: approvers add to it, never replace it.
* Policy globs (spaces, projects, environments) limit what a source may send; ``evidence_for``
  globs name the environments whose deployments the source's word may prove (decision 412).
* Packages belong to the source that delivered them: a release may reference by hash only
  packages of its own source, or of a source whose policy names it in
  ``share_packages_with`` (:func:`package_owners`, decision 290).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from bundlekit.core.text import shell_word
from bundlekit.core.hints import DEFAULT_SPACE, home_flag
from bundlekit.errors import TrustError, VerificationError
from bundlekit.format.container import SignatureRecord
from bundlekit.format.crypto import key_id, verify_signature

__all__ = ["relays_for", "relay_spaces", "SourcePolicy", "TrustedSource", "verify_records", "select_source", "count_approvals", "check_policy",
           "policy_denial", "policy_widening", "glob_options", "matches_any", "package_owners"]


@dataclass(frozen=True, slots=True)
class SourcePolicy:
    spaces: tuple[str, ...] = ("*",)
    projects: tuple[str, ...] = ("*",)
    environments: tuple[str, ...] = ("*",)
    threshold: int = 1
    #: Zone ids of the trusted sources whose releases may use this source's packages (decision 290).
    share_packages_with: tuple[str, ...] = ()
    #: Globs of the environments whose deployments this source's word (its receipts, and the
    #: attestations in its releases) may prove to a lifecycle; none by default (decision 412).
    evidence_for: tuple[str, ...] = ()
    #: Zone ids of the relays this source's releases must come through, in order (spec/relay.md §6,
    #: decision 621); none: releases may come directly or through any trusted relays.
    via: tuple[str, ...] = ()
    #: The names the relays of ``via`` had when the rule named them, one for one (empty in a rule
    #: written before decision 944): a relay no longer trusted is still named by the name it had.
    via_names: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = {"spaces": list(self.spaces), "projects": list(self.projects),
             "environments": list(self.environments), "threshold": self.threshold,
             "share_packages_with": list(self.share_packages_with), "evidence_for": list(self.evidence_for)}
        if self.via:  # absent when unused: policies written before relays read the same
            d["via"] = list(self.via)
        if self.via_names:
            d["via_names"] = list(self.via_names)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "SourcePolicy":
        return cls(tuple(d.get("spaces", ("*",))), tuple(d.get("projects", ("*",))),
                   tuple(d.get("environments", ("*",))), int(d.get("threshold", 1)),
                   tuple(d.get("share_packages_with", ())), tuple(d.get("evidence_for", ())),
                   tuple(d.get("via", ())), tuple(d.get("via_names", ())))

    def relay_name(self, index: int) -> str:
        """The name relay ``via[index]`` had when the rule named it (its zone id for a rule
        written before decision 944)."""
        return self.via_names[index] if index < len(self.via_names) else self.via[index]

    def may_prove(self, environment: str) -> bool:
        """Whether this source's word counts as proof of a deployment to ``environment``."""
        return _match(environment, self.evidence_for)


@dataclass(frozen=True, slots=True)
class TrustedSource:
    zone_id: str
    name: str
    zone_keys: frozenset[bytes]
    signers: frozenset[bytes] = frozenset()
    policy: SourcePolicy = field(default_factory=SourcePolicy)
    #: The space of the verifying zone its trust rule belongs to: the only space its releases
    #: enter (decision 660), and the only space whose releases it may relay (decision 905).
    space: str = "Default"


def verify_records(message: bytes, records: Sequence[SignatureRecord], kind: str, where: str) -> list[bytes]:
    """Check every record; return the distinct public keys that signed ``message``."""
    if not records:
        raise VerificationError(f"{where}: the bundle carries no signature", code="signature_missing")
    keys: list[bytes] = []
    for i, rec in enumerate(records):
        if not verify_signature(rec.public_key, kind, message, rec.signature):
            raise VerificationError(
                f"{where}: signature {i + 1} of {len(records)} (key {key_id('ed25519', rec.public_key)}) does not "
                f"match the {kind} manifest: the bundle was altered or the signature is damaged",
                code="invalid_signature")
        if rec.public_key not in keys:
            keys.append(rec.public_key)
    return keys


def select_source(signed_by: Iterable[bytes], sources: Iterable[TrustedSource], revoked: frozenset[str],
                  where: str, *, trust_command: str = "bundlekit trust add CARD") -> TrustedSource:
    """The trusted zone whose (non-revoked) zone key signed; refuses when there is none
    (``untrusted``, suggesting ``trust_command``: with ``--space`` in an import into a space)."""
    signed = list(signed_by)
    revoked_hits = [k for k in signed if key_id("ed25519", k) in revoked]
    for src in sources:
        for k in signed:
            if k in src.zone_keys and key_id("ed25519", k) not in revoked:
                return src
    if revoked_hits:
        raise TrustError(f"{where}: signed with revoked key {key_id('ed25519', revoked_hits[0])}; ask the source "
                         "zone to export again with its current key", code="key_revoked")
    ids = ", ".join(key_id("ed25519", k) for k in signed)
    raise TrustError(f"{where}: no trusted zone signed this bundle (signer keys: {ids}). Add the source's identity "
                     f"card with `{trust_command}`.", code="untrusted")


def count_approvals(signed_by: Iterable[bytes], source: TrustedSource, revoked: frozenset[str]) -> int:
    trusted = source.zone_keys | source.signers
    return len({k for k in signed_by if k in trusted and key_id("ed25519", k) not in revoked})


def check_threshold(signed_by: Sequence[bytes], source: TrustedSource, revoked: frozenset[str], where: str) -> int:
    n = count_approvals(signed_by, source, revoked)
    if n < source.policy.threshold:
        raise TrustError(f"{where}: {n} distinct trusted signature(s), zone {source.name!r} requires "
                         f"{source.policy.threshold}; have approvers add theirs with bundlekit sign",
                         code="threshold_not_met")
    return n


def _match(value: str, patterns: Sequence[str]) -> bool:
    """Whether ``value`` is one of ``patterns`` or matches one as a glob, case-insensitively.

    Names compare by ``str.casefold`` as lifecycle environments do (format/lifecycle.py), so one
    name is never in a phase by one rule and outside a policy by the other; a name equal to a
    pattern matches it although ``[...]`` in it reads as a glob class (``Staging [EU]``)."""
    folded = value.casefold()
    return any(folded == p.casefold() or fnmatch.fnmatchcase(folded, p.casefold()) for p in patterns)


def matches_any(value: str, patterns: Sequence[str]) -> bool:
    """Whether a trust policy's globs ``patterns`` admit ``value`` (a space, project or
    environment name), as every check of this module compares them."""
    return _match(value, patterns)


def policy_denial(source: TrustedSource, *, space: str, project: str, project_slug: str,
                  environments: Iterable[str]) -> str | None:
    """Why ``source``'s trust policy does not admit a release of ``space``, ``project`` (name or
    slug) naming ``environments`` (a phrase such as ``"space 'B' (allowed: A)"``), or None when it
    admits it."""
    p = source.policy
    if not _match(space, p.spaces):
        return f"space {space!r} (allowed: {', '.join(p.spaces)})"
    if not (_match(project, p.projects) or _match(project_slug, p.projects)):
        return f"project {project!r} (allowed: {', '.join(p.projects)})"
    for env in sorted(environments):
        if not _match(env, p.environments):
            return f"releases for environment {env!r} (allowed: {', '.join(p.environments)})"
    return None


def policy_widening(source: TrustedSource, *, space: str, project: str, project_slug: str,
                    environments: Iterable[str]) -> str | None:
    """The ``bundlekit trust set`` command that makes ``source``'s policy admit what
    :func:`policy_denial` refuses, keeping every glob it has (``bundlekit trust set dev --projects
    'acme-*,bundlekit'``), or None when the policy admits it. Only the first glob list that
    denies is widened, as only it is named; a project is added by its slug (zone-unique)."""
    p = source.policy
    if not _match(space, p.spaces):
        option, globs, value = "--spaces", p.spaces, space
    elif not (_match(project, p.projects) or _match(project_slug, p.projects)):
        option, globs, value = "--projects", p.projects, project_slug
    else:
        denied = [env for env in sorted(environments) if not _match(env, p.environments)]
        if not denied:
            return None
        option, globs, value = "--environments", p.environments, denied[0]
    return f"bundlekit trust set {shell_word(source.name)} {glob_options(option, (*globs, value))}"


def glob_options(option: str, globs: Sequence[str]) -> str:
    """``option`` with ``globs`` as a command line gives them: one comma-separated, shell-quoted
    value (``--projects 'acme-*,bundlekit'``), or the option once per glob when one holds a comma
    (the commands split a value on commas)."""
    if any("," in g for g in globs):
        return " ".join(f"{option} {shell_word(g)}" for g in globs)
    return f"{option} {shell_word(','.join(globs))}"


def check_policy(source: TrustedSource, *, space: str, project: str, project_slug: str,
                 environments: Iterable[str], where: str) -> None:
    """Refuse (``policy_denied``) a bundle for a space/project/environment its source may not send;
    the message names the ``bundlekit trust set`` command that would admit it (finding newuser 7)."""
    envs = list(environments)
    why = policy_denial(source, space=space, project=project, project_slug=project_slug, environments=envs)
    if why is not None:
        widen = policy_widening(source, space=space, project=project, project_slug=project_slug, environments=envs)
        raise TrustError(f"{where}: zone {source.name!r} may not send {why}. If it may, widen its trust rule here, "
                         f"keeping the rest of it: `{widen}{home_flag()}`", code="policy_denied")


def package_owners(source_zone_id: str, sources: Iterable[TrustedSource]) -> frozenset[str]:
    """The zones whose packages a release from ``source_zone_id`` may reference by hash: that zone
    itself, and every trusted source whose policy shares its packages with it. Sharing is one
    way (B sharing with A lets A use B's packages, not the reverse) and ends when the sharing
    source is no longer trusted."""
    return frozenset({source_zone_id} | {s.zone_id for s in sources if source_zone_id in s.policy.share_packages_with})


def relays_for(relay_space: str, space: str) -> bool:
    """Whether a zone trusted here in space ``relay_space`` may relay releases that enter space
    ``space`` (decisions 905, 945): a relay trusted in ``Default`` answers zone-wide, for every
    space, as a source trusted there does (decision 915); one trusted in another space only for
    releases entering that space. Space names compare without case."""
    return relay_space.casefold() in (DEFAULT_SPACE.casefold(), space.casefold())


def relay_spaces(space: str) -> str:
    """The spaces :func:`relays_for` allows for releases entering ``space``, as a sentence ends
    after "trusted in": ``Payments or in Default``, or just ``Default`` when ``space`` is Default
    (newuser36 finding 4: "a zone trusted in Default or in Default")."""
    return DEFAULT_SPACE if space.casefold() == DEFAULT_SPACE.casefold() else f"{space} or in {DEFAULT_SPACE}"

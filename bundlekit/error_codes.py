"""The one registry of error codes: code -> family -> exit code -> one-line meaning.

Every :class:`~bundlekit.errors.BundleError` is constructed with a code listed here, and
the class raised must be the code's family (the constructor checks both). The exit code
of a failing command comes from here, per code; ``spec/errors.md`` is generated from this
table (``python scripts/gen_errors.py``). Decisions 100-102 record the rules.

Each entry also says whether a user can cause the error through the command line; when
no user can, ``internal`` gives the reason in a few words. ``aliases`` are the codes the
same refusal had in earlier releases: the ``--json`` error object lists them under
``"aliases"`` so scripts that match on an old code keep working. ``exception`` names the
documented exception to "a refused operation leaves the home unchanged", if any.

Naming (decision 101): lower snake case; a value that fails validation is
``invalid_<what>``, never ``<what>_invalid``; a thing that is absent or differs is
``<what>_missing`` / ``<what>_mismatch``; a refusal of the deploy preflight that the
substitution engine also reports elsewhere is ``preflight_<engine code>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

__all__ = ["FAMILIES", "ErrorCode", "REGISTRY", "ALIASES", "lookup"]

#: Family -> (exit code, what the family means). The exit codes are the README's.
FAMILIES: Mapping[str, tuple[int, str]] = MappingProxyType({
    "usage": (2, "the command line is wrong"),
    "input": (1, "a user-supplied file or value is invalid: a release file, card, key file, template, policy"),
    "format": (3, "the bytes do not follow the bundle format"),
    "verification": (3, "integrity or authenticity failed: signature, hash, size, expiry, destination, sequence"),
    "trust": (3, "the signer or source is not trusted, or its policy forbids what it sent"),
    "conflict": (4, "incoming changes conflict with local state"),
    "deploy": (5, "a deployment was refused before anything ran (lifecycle, targets, preflight) or did not succeed"),
    "transport": (1, "media volumes or a diode transfer are incomplete or damaged"),
    "state": (1, "the zone's home is missing, already exists, lacks what was asked for, or is damaged"),
})

_NAME = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")

#: Why a preflight refusal is not "nothing changed" (see spec/deploy.md, "Preflight").
_PREFLIGHT = "preflight"
#: ``import`` refusing an authentic bundle queues a refusal entry for its source (decision 153).
_REFUSAL = "refusal"
#: Why a machine failing mid-step is no input (tests/fleet stages both with real sshd processes).
_MACHINE = "a target machine or its connection failing mid-step; tests/fleet kills and freezes real ones"


@dataclass(frozen=True)
class ErrorCode:
    """One registered code.

    ``internal`` is empty when a user can cause the error through the CLI, else why not.
    ``exception`` is empty, ``"preflight"`` (without ``--dry-run`` a refused deployment is
    recorded as Failed and queued for the source zone), ``"deployment"`` (a deployment
    that ran is recorded whatever its outcome) or ``"refusal"`` (``import`` refusing a bundle
    that really came from its source queues a refusal entry for that source).
    """

    code: str
    family: str
    meaning: str
    internal: str = ""
    aliases: tuple[str, ...] = ()
    exception: str = ""

    def __post_init__(self) -> None:
        if not _NAME.match(self.code):
            raise ValueError(f"error code {self.code!r}: lower snake case only")
        if self.family not in FAMILIES:
            raise ValueError(f"error code {self.code!r}: unknown family {self.family!r}")
        if not self.meaning or "\n" in self.meaning:
            raise ValueError(f"error code {self.code!r}: the meaning is one line")
        if self.code in self.aliases or any(not _NAME.match(a) for a in self.aliases):
            raise ValueError(f"error code {self.code!r}: bad aliases {self.aliases!r}")
        if self.exception not in ("", _PREFLIGHT, "deployment", _REFUSAL):
            raise ValueError(f"error code {self.code!r}: unknown exception {self.exception!r}")

    @property
    def exit_code(self) -> int:
        return FAMILIES[self.family][0]

    @property
    def user_causable(self) -> bool:
        return not self.internal


def _build(*entries: ErrorCode) -> tuple[Mapping[str, ErrorCode], Mapping[str, tuple[str, ...]]]:
    codes: dict[str, ErrorCode] = {}
    aliases: dict[str, list[str]] = {}
    for e in entries:
        if e.code in codes:
            raise ValueError(f"error code {e.code!r} is registered twice")
        codes[e.code] = e
        for old in e.aliases:
            aliases.setdefault(old, []).append(e.code)
    return (MappingProxyType(dict(sorted(codes.items()))),
            MappingProxyType({old: tuple(new) for old, new in sorted(aliases.items())}))


_E = ErrorCode
_RACE = "a file changing while it is read; a race, not an input"
_LIB = "library callers only; the CLI never passes this value"
_DEEP = "defence in depth: the preflight refuses the same package or file first"
_IO = "an I/O failure of the target's file system after bundlekit extracted the files itself"

REGISTRY, ALIASES = _build(
    # -- usage (exit 2) ----------------------------------------------------------------------
    _E("usage", "usage", "options that cannot go together, or one that is needed is missing"),
    _E("invalid_var", "usage", "a --var is not NAME=VALUE", aliases=("bad_var",)),
    _E("joined_names", "usage", "a --role, scope option or --platform given names joined by a comma: repeat the "
                                "option (decision 976)"),
    _E("output_in_home", "usage", "an output path (-o, --html, --out, --spool) is or lies in a zone's home or "
                                  "package store (decision 942)", aliases=("usage",)),
    _E("invalid_config_file", "usage", "the file given to render-config does not parse as its format"),
    _E("invalid_address", "usage", "a HOST:PORT option is malformed or the host does not resolve"),
    _E("invalid_fec_parameters", "usage", "diode block, interleave or announce settings are not positive",
       internal=_LIB),
    _E("invalid_file_name", "usage", "a file to carry does not have a valid, non-hidden file name (spec/names.md)"),
    _E("invalid_max_requests", "usage", "the dashboard server's request limit is not a positive integer",
       internal=_LIB),
    _E("invalid_parity", "usage", "--parity is negative"),
    _E("invalid_state_url", "usage", "a --state or --to value is not a postgresql://USER@HOST:PORT/DB URL"),
    _E("password_in_url", "usage", "a state URL on the command line carries a password (use --state-password-file)"),
    _E("invalid_port", "usage", "--port is not 0-65535"),
    _E("invalid_rate", "usage", "the diode send rate is negative",
       internal="--rate is parsed as a size first, which refuses a negative value (invalid_size)"),
    _E("invalid_redundancy", "usage", "--redundancy is outside 0..10"),
    _E("invalid_repeat", "usage", "--repeat is outside 0..1000"),
    _E("invalid_size", "usage", "a size option is not bytes or a K/M/G/T size"),
    _E("invalid_strategy", "usage", "an unknown conflict strategy",
       internal="the CLI offers --on-conflict as a fixed choice list"),
    _E("invalid_symbol_size", "usage", "the diode symbol size is not a multiple of 8 within the limit",
       internal=_LIB),
    _E("duplicate_name", "usage", "two files to send through the diode have the same name"),
    _E("no_files", "usage", "nothing to send through the diode", internal="the CLI requires at least one FILE"),
    _E("non_loopback", "usage", "the dashboard server was asked to listen beyond loopback",
       internal="bundlekit serve always listens on 127.0.0.1"),
    _E("port_unavailable", "usage", "the dashboard server cannot listen on the port (in use or not allowed)"),
    _E("too_many_volumes", "usage", "the bundle would need more media volumes than the format allows"),
    _E("unknown_volume_set", "usage", "--set names none, or more than one, of the volume sets in the folders"),
    _E("volume_size_too_small", "usage", "--volume-size leaves no room for data after the volume header"),
    # the operator's own files and values: the release file, a merge policy, a variables file (decision 190)
    _E("invalid_duration", "usage", "--expires is not a positive duration like 12h, 30d or 2w"),
    _E("relay_by_reference", "usage", "a release to relay lists packages without their bytes, and no "
                                      "--allow-by-reference"),
    _E("invalid_policy", "usage", "a trust, merge or egress policy is invalid (bad threshold, bad policy file)"),
    _E("invalid_release", "usage", "a release file is not valid TOML, breaks its schema, or a slug, package id or "
                                   "version is not a valid name"),
    _E("invalid_variables_file", "usage", "a --variables file is not a JSON object of non-empty names"),
    _E("invalid_self_bundle", "usage", "self-update: a release of another project, or with wheels pip would "
                                       "refuse (mislabelled)"),
    _E("self_not_importable", "usage", "a plain import of a release of the reserved project bundlekit (self-update "
                                       "installs it, then imports it)"),
    _E("self_platform_mismatch", "usage", "self-update: a bundlekit release exported for another Python or "
                                          "platform than the one it installs with"),
    _E("self_not_deployable", "usage", "a deployment, its plan or its lifecycle, of the reserved project "
                                       "bundlekit (installed with self-update)"),
    _E("unknown_output_step", "usage", "an output variable reference names a step the release does not have"),
    _E("release_lint_failed", "usage", "export found errors that bundlekit lint reports for the release file"),
    _E("invalid_inventory", "usage", "a --targets file is not a target inventory (written by bundlekit targets export-inventory)"),
    _E("package_file_missing", "usage", "a package file the release file names does not exist next to it (or is "
                                        "a folder)"),
    _E("unsafe_path", "usage", "a package path in the release file is not a valid relative path (spec/names.md) "
                               "or leaves its folder"),

    # -- input (exit 1) ----------------------------------------------------------------------
    _E("invalid_input", "input", "a value given on the command line is empty or out of range"),
    _E("invalid_host_key", "usage", "a host key given for an SSH target is not an SSH public key"),
    _E("invalid_identity_file", "input", "an SSH target's identity file is unreadable, not a private key, "
                                         "passphrase-protected or readable by others"),
    _E("invalid_target_address", "usage", "an SSH target's user, host, port or work folder is not valid"),
    _E("folder_holds_home", "input", "a target's --root or the worker's --folder is, holds or lies in a zone's home "
                                     "(decision 801)"),
    _E("invalid_worker", "input", "a worker user or folder given to `worker` cannot be used"),
    _E("ambiguous_variable", "input", "two values of a variable apply with equal precedence and no tie-break"),
    _E("bundle_changed", "input", "the bundle changed size while it was being split", internal=_RACE),
    _E("bundle_not_found", "input", "the bundle file (or folder of volumes) given does not exist",
       aliases=("not_found",)),
    _E("bundle_unreadable", "input", "the bundle file exists but cannot be read"),
    _E("duplicate_identity", "input", "two variables, steps or packages of one snapshot or release bundle have the "
                                      "same identity"),
    _E("file_changed", "input", "a file shrank while it was being sent through the diode", internal=_RACE),
    _E("file_exists", "input", "an output file already exists and the command was not given --overwrite "
                               "(decision 942)"),
    _E("file_not_found", "input", "an input file (release file, card, key file, template, package, file to send) "
                                  "does not exist or is a folder",
       aliases=("not_found",)),
    _E("file_unreadable", "input", "a file to send exists but cannot be read"),
    _E("wheel_missing", "input", "export-self: the wheelhouse lacks a wheel of bundlekit or a dependency for the "
                                 "destination"),
    _E("invalid_wheel", "input", "export-self: a wheel cannot be read, its name or version cannot be a package's, "
                                 "or its METADATA disagrees"),
    _E("invalid_wheelhouse", "input", "export-self: the --wheelhouse is not a folder"),
    _E("unsupported_home_path", "input", "self-update: the home's path holds a character pip's command launchers "
                                         "cannot carry"),
    _E("unsupported_python", "input", "export-self: every bundlekit wheel's Requires-Python excludes the "
                                      "destination's Python"),
    _E("input_too_large", "input", "a file read whole (card, key, release file, template, variables) is above "
                                   "its limit"),
    _E("invalid_card", "input", "an identity card is malformed or its self-signature does not match (altered)",
       aliases=("card_invalid",)),
    _E("invalid_dashboard_view", "input", "a dashboard view document does not have the documented shape",
       aliases=("dashboard_view_invalid",),
       internal="views are built from the zone's state; library callers only load one from JSON"),
    _E("invalid_key_file", "input", "an approver key file is not a bundlekit key file, or its key line is damaged"),
    _E("invalid_key_name", "input", "an approver's key name is not a valid name (spec/names.md)"),
    _E("invalid_label", "input", "an environment, role or variable name given is not a valid label (spec/names.md)"),
    _E("invalid_snapshot", "input", "a merge snapshot does not have the documented shape",
       internal="snapshots are built from verified manifests and the zone's state, never read from users"),
    _E("invalid_variable", "input", "a variable has an empty name, a non-text value or a malformed scope",
       internal="release files are checked against their schema first; `render` refuses empty names earlier"),
    _E("invalid_target_name", "usage", "a target name given to `targets add` is not a valid name (spec/names.md)"),
    _E("invalid_zone_name", "input", "a zone name is not a valid name (spec/names.md)"),
    _E("not_utf8", "input", "a template, variables file, or a value given on the command line or standard input "
                            "is not UTF-8 text"),
    _E("value_source_missing", "input", "a release file's value_from names an unset environment variable or a "
                                        "missing file, or the value is empty"),
    _E("passphrase_missing", "input", "a protected zone key or a backup needs a passphrase: no "
                                      "BUNDLEKIT_PASSPHRASE_FILE, no terminal"),
    _E("passphrase_wrong", "input", "the passphrase given does not open the zone's protected key or the backup"),
    _E("invalid_passphrase", "input", "a passphrase file is empty, not one line of UTF-8 or too long; a new one "
                                      "is under 8 characters or differs"),
    _E("value_missing", "input", "`variables set` read an empty value from standard input, --from-file or the "
                                 "prompt (a closed or empty pipe)"),
    _E("not_a_file", "input", "a file to read, or a path to write, is a FIFO, device or socket (or a folder), not "
                              "a regular file"),
    _E("path_unusable", "input", "a path the user gave cannot be used: the system refuses it (no such place, "
                                 "not allowed, a name too long)"),
    _E("out_dir_missing", "input", "the diode receiver's output folder is not a folder",
       internal="`diode receive` creates --out before the receiver starts"),
    _E("output_exists", "input", "the output folder already holds volumes (of this or another bundle); "
                                 "`media split --replace` replaces them"),
    _E("package_refused", "input", "export read a package the way a deploy would and refused it "
                                   "(details.cause is the deploy's code)"),
    _E("self_trust", "input", "a zone was asked to trust its own identity card"),
    _E("spool_dir_missing", "input", "the --spool folder does not exist"),
    _E("unreadable", "input", "a file read whole (card, key, release file, template, variables) cannot be read"),
    _E("volume_dir_missing", "input", "a folder of media volumes given does not exist"),
    # the substitution engine (spec/substitution.md), also `bundlekit render`
    _E("template_syntax", "input", "a template does not parse"),
    _E("unresolved_variables", "input", "a template refers to variables that have no value"),
    _E("filter_failed", "input", "a filter could not be applied to its input (bad base64, bad arguments)"),
    _E("variable_cycle", "input", "variables refer to each other in a cycle"),
    _E("substitution_too_deep", "input", "templates or variable references nest beyond the depth limit"),
    _E("substitution_too_large", "input", "a rendering expands beyond the size limit"),

    # -- format (exit 3) ---------------------------------------------------------------------
    _E("malformed", "format", "bytes of the bundle are not what the format allows at that place"),
    _E("truncated", "format", "the bundle ends before the format says it should"),
    _E("trailing_bytes", "format", "bytes follow the last part of the bundle or of a manifest"),
    _E("invalid_backup", "format", "the file given to `zone restore` is not a bundlekit zone backup"),
    _E("not_a_bundle", "format", "the file is not a bundlekit bundle (bad magic) or is a folder"),
    _E("unsupported_version", "format", "the bundle or manifest format version is newer than this bundlekit"),
    _E("limit_exceeded", "format", "the bundle declares more data, blobs, signatures or manifest values "
                                         "than the limits allow"),
    _E("duplicate_key", "format", "a manifest map repeats a key"),
    _E("non_canonical", "format", "the manifest is not in canonical encoding"),
    _E("invalid_manifest", "format", "the manifest breaks its schema or its internal rules (names: spec/names.md)"),
    _E("unreferenced_blob", "format", "the bundle carries data that the manifest does not reference"),
    _E("input_changed", "format", "a package changed while it was being exported", internal=_RACE),
    _E("invalid_delta", "format", "a delta package's recipe cannot rebuild it (a range outside its base, a wrong data "
                                  "blob)"),

    # -- verification (exit 3) ---------------------------------------------------------------
    _E("blob_corrupt", "verification", "a blob's compressed data is corrupt",
       exception=_REFUSAL),
    _E("blob_hash_mismatch", "verification", "a blob's bytes do not match the signed SHA-256",
       exception=_REFUSAL),
    _E("blob_layout", "verification", "blobs overlap, leave gaps or do not fill the blob section",
       exception=_REFUSAL),
    _E("blob_size_mismatch", "verification", "a blob decompresses to a size other than the signed one",
       exception=_REFUSAL),
    _E("invalid_audit_chain", "verification", "an entry of the zone's audit trail was altered, deleted, reordered "
                                              "or cut off (spec/audit.md)"),
    _E("invalid_signature", "verification", "a signature does not match the manifest: altered or damaged",
       aliases=("signature_invalid",)),
    _E("signature_missing", "verification", "the bundle carries no signature",
       internal="the container refuses a file without a signature record first (truncated)"),
    _E("invalid_seal", "verification", "a sealed value cannot be opened with this zone's key, or opens to bytes "
                                       "that are not UTF-8 text",
       aliases=("seal_invalid",), exception=_REFUSAL),
    _E("invalid_rotation", "verification", "a key rotation statement is malformed or not signed by both keys",
       aliases=("rotation_invalid",), exception=_REFUSAL),
    _E("expired", "verification", "the bundle's validity ended", exception=_REFUSAL),
    _E("not_yet_valid", "verification", "the bundle was created in the future (clock skew or tampering)",
       exception=_REFUSAL),
    _E("kind_mismatch", "verification", "the header's kind differs from the manifest's kind"),
    _E("bundle_id_mismatch", "verification", "the manifest's bundle_id is not the one its zones, project and sequence "
                                             "give", exception=_REFUSAL),
    _E("wrong_destination", "verification", "the bundle is addressed or sealed to another zone"),
    _E("wrong_kind", "verification", "a release was given where a receipt was expected, or the reverse",
       internal="the CLI dispatches on the header kind, which verification ties to the manifest (kind_mismatch)"),
    _E("package_hash_mismatch", "verification", "a stored package no longer matches the SHA-256 its release pinned",
       exception=_PREFLIGHT),
    _E("package_mismatch", "verification", "a package id and version arrives with other bytes than the zone holds",
       exception=_REFUSAL),
    _E("package_missing", "verification", "a package listed by reference is not in this zone's package store",
       exception=_REFUSAL),
    _E("delta_base_missing", "verification", "a package sent as changes lacks its base in this zone's package "
                                             "store (export again with --full)", exception=_REFUSAL),
    _E("rebuilt_package_mismatch", "verification", "a package rebuilt from its base and a delta does not match its "
                                                   "signed SHA-256 (a damaged base)",
       exception=_REFUSAL),
    _E("package_size_mismatch", "verification", "a package or delta base the zone holds is named with another size "
                                                "than its copy of that SHA-256", exception=_REFUSAL),
    _E("rollback", "verification", "the bundle's sequence is older than the last imported of its project from its "
                                   "source", exception=_REFUSAL),
    _E("replay", "verification", "the receipt's sequence is older than the last imported from its zone and it "
       "adds no entry"),
    _E("sequence_reused", "verification", "the sequence was already imported with different content",
       exception=_REFUSAL),
    _E("unknown_bundle", "verification", "a receipt answers a release bundle this zone never exported"),
    _E("backup_zone_mismatch", "verification", "`zone restore` of a backup of another zone than the home holds"),
    _E("backup_corrupt", "verification", "a zone backup does not authenticate, ends early, or holds something out "
                                         "of place"),
    _E("receipt_mismatch", "verification", "a receipt entry misreports the release bundle it answers, or says "
                                           "Success while one of its runs failed"),
    _E("invalid_relay", "verification", "a relayed bundle's hop record is malformed, or its hops are not one chain "
                                        "from the source to here"),
    _E("evidence_mismatch", "verification", "a receipt offered as lifecycle evidence reports no successful "
                                            "deployment of the release being promoted"),

    # -- trust (exit 3) ----------------------------------------------------------------------
    _E("untrusted", "trust", "no trusted zone signed the bundle"),
    _E("key_revoked", "trust", "the bundle is signed with a revoked key"),
    _E("threshold_not_met", "trust", "fewer distinct trusted signatures than the source's threshold",
       exception=_REFUSAL),
    _E("policy_denied", "trust", "the source's policy does not allow this space, project or environment",
       exception=_REFUSAL),
    _E("space_denied", "trust", "the source is not trusted in that space, the bundle names another, or the project is another's",
       exception=_REFUSAL),
    _E("package_not_shared", "trust", "a release uses a package (by hash) or a package id that only other sources "
                                      "delivered", exception=_REFUSAL),
    _E("host_key_mismatch", "trust", "an SSH target offered none of its pinned host keys; nothing was run",),
    _E("relay_required", "trust", "the source's trust policy requires relays (--via) that did not countersign the "
                                  "release in that order", exception=_REFUSAL),
    _E("untrusted_relay", "trust", "a relay that countersigned the bundle is not a zone trusted here, or not for the release's space and project",
       exception=_REFUSAL),
    _E("source_mismatch", "trust", "the signer is not the zone the manifest claims as its source"),

    # -- conflict (exit 4) -------------------------------------------------------------------
    _E("conflict", "conflict", "incoming changes conflict with local changes; nothing was changed"),
    _E("release_exists", "conflict", "this release version was imported, or created here, with other content "
                                     "(--replace replaces one created here)"),

    # -- deploy (exit 5) ---------------------------------------------------------------------
    _E("deploy_failed", "deploy", "the deployment ran and a step failed, timed out or was canceled",
       exception="deployment"),
    _E("deployment_claim_lost", "deploy", "a running deployment lost its claim (its PostgreSQL connection "
                                          "ended), could not retake it and stopped",
       exception="deployment", internal="the state server ending a deployment's connection; "
                                        "tests/reliability/test_claims_kept.py does"),
    _E("self_update_failed", "deploy", "self-update could not install the release, or it did not run; the "
                                       "current installation is kept"),
    _E("deployment_canceled", "deploy", "SIGINT or SIGTERM stopped the deployment; it is recorded Canceled "
       "with every run's state",
       exception="deployment", internal="sent by a signal, not typed; tests/fleet/test_canceled_cli.py sends both"),
    _E("preflight_unresolved_variables", "deploy", "the preflight found variable references without a value",
       aliases=("unresolved_variables",), exception=_PREFLIGHT),
    _E("preflight_template_syntax", "deploy", "the preflight found a template that does not parse",
       aliases=("template_syntax",), exception=_PREFLIGHT),
    _E("preflight_ambiguous_variable", "deploy", "two values of a variable apply equally to a step and target",
       aliases=("ambiguous_variable",), exception=_PREFLIGHT),
    _E("preflight_variable_cycle", "deploy", "the preflight found variables that refer to each other in a cycle",
       aliases=("variable_cycle",), exception=_PREFLIGHT),
    _E("preflight_substitution_too_deep", "deploy", "the preflight found variable references nested too deeply",
       aliases=("substitution_too_deep",), exception=_PREFLIGHT),
    _E("preflight_substitution_too_large", "deploy", "the preflight found a rendering that expands beyond the limit",
       aliases=("substitution_too_large",), exception=_PREFLIGHT),
    _E("no_targets", "deploy", "the environment has no deployment targets"),
    _E("lifecycle_violation", "deploy", "the release's lifecycle does not allow the environment yet: an earlier "
                                        "phase is still to pass"),
    _E("target_unreachable", "deploy", "a target cannot be connected to, or its step runner did not start",),
    _E("target_auth_failed", "deploy", "an SSH target refused the zone's key, or its identity file is unreadable",),
    _E("target_python_missing", "deploy", "a target has no python3 to run the step runner"),
    _E("target_python_too_old", "deploy", "a target's python3 is older than 3.8",
       internal="needs a Python older than 3.8 on a target; tests/fleet answers for one with a stand-in",),
    _E("target_holds_home", "deploy", "a local target's or the worker's folder now is, holds or lies in a zone's "
                                      "home (decision 801)"),
    _E("target_workdir_unusable", "deploy", "a target's work folder cannot be created or written by its user",),
    _E("target_connection_lost", "deploy", "the connection to a target's step runner ended during a step",
       internal=_MACHINE, exception="deployment"),
    _E("target_timed_out", "deploy", "a target's runner did not answer within the step's timeout plus a grace",
       internal=_MACHINE, exception="deployment"),
    _E("runner_failed", "deploy", "a target's step runner failed in a way it could not name",
       internal="a failure no check names (a target's file system refusing a write bundlekit did not foresee)",
       exception="deployment"),
    _E("runner_protocol", "deploy", "the zone and a step runner disagreed about the protocol",
       internal="the zone and the runner are built from the same sources and checked by hash"),
    _E("structured_config_unavailable", "deploy", "a target's python3 lacks what a configuration format needs "
                                                  "(lxml for XML); refused before anything runs"),
    _E("worker_unavailable", "deploy", "no worker isolation can be had: no such worker user, or no bubblewrap",),
    _E("no_targets_for_roles", "deploy", "no target in the environment has a role a step runs on",
       exception=_PREFLIGHT),
    _E("no_zone_target", "deploy", "a step without roles runs on the zone, but no zone target was given",
       internal="bundlekit deploy always supplies the zone target"),
    _E("target_wrong_environment", "deploy", "a target given to the plan belongs to another environment",
       internal="bundlekit deploy selects the targets by environment"),
    _E("invalid_step", "deploy", "a step's type, condition, timeout or script is not valid",
       internal="release files and manifests are schema-checked before a deploy sees a step"),
    _E("unknown_package", "deploy", "a step deploys a package the release does not carry",
       internal="release files and manifests are checked for it before a deploy sees the step"),
    _E("invalid_deploy_request", "deploy", "a deploy request is not well formed", internal=_LIB),
    _E("plan_mismatch", "deploy", "a plan was executed with a request it was not built from", internal=_LIB),
    _E("ambiguous_package_script", "deploy", "a package has more than one script for one deployment phase",
       exception=_PREFLIGHT),
    _E("invalid_structured_config", "deploy", "a structured configuration file does not parse as its format "
                                              "(JSON, YAML, XML or Java properties)",
       aliases=("invalid_json_config",), exception=_PREFLIGHT),
    _E("package_unreadable", "deploy", "a package in the zone's store cannot be read",
       aliases=("package_missing",), exception=_PREFLIGHT),
    _E("corrupt_package", "deploy", "a package archive is damaged or truncated", exception=_PREFLIGHT),
    _E("unsupported_package", "deploy", "a package is not a zip, nupkg, tar or tar.gz, or uses an unsupported "
                                        "feature", exception=_PREFLIGHT),
    _E("package_format_mismatch", "deploy", "a package's name claims another archive format than its content",
       internal="deploys read packages from the store, where files have no name; export says package_refused"),
    _E("unsafe_package", "deploy", "a package member could escape its folder, is a link or device, or is a bomb",
       exception=_PREFLIGHT),
    _E("member_too_large", "deploy", "a package file to substitute is above the size limit", exception=_PREFLIGHT),
    _E("member_not_text", "deploy", "a package file to substitute is not text (UTF-8, or UTF-16/32 with a BOM)",
       exception=_PREFLIGHT),
    _E("invalid_file_pattern", "deploy", "a substitution file pattern is not a valid relative path (spec/names.md)",
       internal="release files and manifests refuse such patterns; appsettings.<environment>.json is then left out"),
    _E("already_deployed", "deploy", "the package's destination folder exists and replacing was not asked for",
       internal="deployments always replace the package folder they install"),
    _E("unsafe_destination", "deploy", "a package's destination is a link or not a folder", exception="deployment"),
    _E("extract_failed", "deploy", "extracting a package failed (space, permissions)", exception="deployment"),
    _E("invalid_name", "deploy", "a package id, version or deployment id cannot be a folder name",
       internal="manifests restrict package ids and versions to valid names (invalid_manifest) first"),
    _E("invalid_target", "deploy", "a target has an empty name, environment or role",
       internal="`targets add` refuses these first (invalid_target_name, invalid_input)"),
    _E("invalid_output_variable", "deploy", "a script set an output variable whose name is not a valid label "
                                            "(spec/names.md)", exception="deployment"),
    _E("path_outside_target", "deploy", "a path resolved outside the target's root (through a link)",
       exception="deployment"),
    _E("workdir_unusable", "deploy", "a step's working folder cannot be created or used", exception="deployment"),
    _E("interpreter_missing", "deploy", "the script's interpreter is not installed on the target",
       exception="deployment"),
    _E("unsupported_syntax", "deploy", "a script syntax bundlekit cannot run",
       internal="release files and manifests allow only the supported syntaxes"),
    _E("invalid_script_options", "deploy", "a script timeout or log limit is not positive", internal=_LIB),
    _E("invalid_environment", "deploy", "a script environment variable name or value is not valid text",
       internal="variable names and values are text without NUL from the release file on"),
    _E("substitution_failed", "deploy", "a file to substitute cannot be read or written on the target",
       internal=_IO),
    _E("substitution_file_too_large", "deploy", "an installed file to substitute is above the size limit",
       internal=_DEEP),
    _E("substitution_file_not_text", "deploy", "an installed file to substitute is not text (UTF-8, or UTF-16/32 "
                                               "with a BOM)", internal=_DEEP),
    _E("structured_config_unreadable", "deploy", "a structured configuration file cannot be read on the target",
       aliases=("json_config_unreadable",), internal=_IO, exception="deployment"),
    _E("structured_config_unwritable", "deploy", "a structured configuration file cannot be written on the target",
       aliases=("json_config_unwritable",), internal=_IO, exception="deployment"),

    # -- transport (exit 1) ------------------------------------------------------------------
    _E("volume_damaged", "transport", "a media volume's header or payload is damaged",
       internal="a damaged volume is a detail of volumes_incomplete; alone only if one shrinks while joined"),
    _E("volume_unsupported", "transport", "a media volume uses a newer volume format",
       internal="such a volume is a detail of volumes_incomplete (media check lists it per volume)"),
    _E("volumes_incomplete", "transport", "too many volumes are missing or damaged to join the bundle"),
    _E("volumes_mixed", "transport", "the folders hold volumes of several bundles; choose one with --set"),
    _E("no_volumes", "transport", "the folders hold no bundlekit volumes"),
    _E("bundle_digest_mismatch", "transport", "the joined bundle does not match the digest its volumes name"),
    _E("parity_unavailable", "transport", "the erasure-code library for parity volumes is missing or misbehaves",
       internal="a property of this machine's installation, not of any input"),
    _E("nothing_received", "transport", "no valid diode frame arrived before the idle timeout"),
    _E("incomplete", "transport", "not every file sent through the diode arrived intact"),
    _E("listen_failed", "transport", "the diode receiver cannot listen on the address"),
    _E("send_failed", "transport", "the diode sender cannot send to the address"),

    # -- state (exit 1) ----------------------------------------------------------------------
    _E("not_a_zone", "state", "the home is not a zone home (no zone file or state database)"),
    _E("zone_exists", "state", "the home already holds a zone"),
    _E("home_not_empty", "state", "the folder for a new zone is not empty"),
    _E("state_damaged", "state", "the zone's zone.json, or its SQLite state database, is damaged"),
    _E("invalid_node_settings", "state", "the home's bundlekit.conf has a line that is not a setting, or a "
                                         "BUNDLEKIT_STATE that is not a state URL"),
    _E("state_too_new", "state", "the state database was written by a newer bundlekit"),
    _E("state_unreachable", "state", "the zone's state cannot be reached or opened (server, connection, disk, file "
                                     "system)"),
    _E("state_read_only", "state", "the zone's state refuses writes (read-only database or file, standby, "
                                   "missing privilege)"),
    _E("state_busy", "state", "another node held the state's write lock longer than the lock timeout",
       internal="needs a writer stuck for 30 s inside one transaction; bundlekit's are short"),
    _E("state_query_failed", "state", "the PostgreSQL state refused a statement for another reason",
       internal="every statement bundlekit sends is valid on the schema it migrated; a bug or an edited database"),
    _E("zone_mismatch", "state", "the state database holds another zone than the home being joined or migrated"),
    _E("state_not_empty", "state", "the database to create a zone in, or to migrate into, already holds state"),
    _E("state_migration_mismatch", "state", "the copied state does not match the original (counts or digests)",
       internal="a copy in one transaction matches unless the server alters values; checked all the same"),
    _E("deployment_in_progress", "conflict", "another deployment of the project to the environment is running"),
    _E("prune_in_progress", "conflict", "bundlekit prune is removing files in the zone; run again when it ends"),
    _E("prune_claim_lost", "conflict", "prune's claim ended with its PostgreSQL connection mid-removal; it "
                                       "stopped there (run it again)",
       internal="the state server ending prune's connection; tests/retention/test_prune_claim.py does"),
    _E("store_write_failed", "state", "the package store refused a write (full, read-only, too large)"),
    _E("store_mismatch", "state", "a node's package store folder is not its zone's (another zone's, or unmarked: "
                                  "an empty folder)"),
    _E("store_unavailable", "state", "a node's package store folder is missing or unreadable (not mounted, "
                                     "permissions)"),
    _E("backup_unsupported", "state", "`zone backup` of a zone whose state is in PostgreSQL (back the database up "
                                      "with its own tools)"),
    _E("key_missing", "state", "one of the zone's key files is missing"),
    _E("invalid_zone_key", "state", "a zone key file is damaged, unreadable, or not one of the zone's own "
                                    "keys (another zone's, replaced)", aliases=("key_invalid",)),
    _E("invalid_state_password", "state", "the home's keys/state.password is damaged (not UTF-8, a control "
                                          "character) or unreadable"),
    _E("zone_key_damaged", "state", "a key the state holds for the zone's nodes does not authenticate or is not "
                                    "the key named",
       internal="only an edit of the state database outside bundlekit; tests/zone/test_keyring.py alters rows"),
    _E("node_key_outdated", "state", "another node rotated the zone's signing key and the state lacks the new key",
       internal="needs a rotation recorded by a bundlekit before keys were shared (decision 189)"),
    _E("secret_missing", "state", "a sensitive value the state refers to is missing from the zone",
       internal="secrets and their references are written in one transaction"),
    _E("already_trusted", "state", "the zone or approver key is already trusted"),
    _E("unknown_zone", "state", "no trusted zone has that name"),
    _E("unknown_space", "state", "the zone has no space of that name (bundlekit spaces list shows them)"),
    _E("space_exists", "state", "a space of that name already exists"),
    _E("unknown_project", "state", "no project has that name or slug in this zone"),
    _E("unknown_release", "state", "the project has no imported release of that version"),
    _E("unknown_step", "state", "the project has no step of that name"),
    _E("unknown_variable", "state", "the project has no variable with that name (and scope); `variables set` "
                                    "needs --new to add one"),
    _E("rollback_missing", "state", "self-update --rollback: no earlier bundlekit installation to go back to"),
    _E("rollback_state_too_new", "state", "self-update --rollback: the installation before reads an older state "
                                          "schema than the zone's"),
    _E("invalid_self_link", "state", "HOME/self/current or previous is not a link bundlekit made, or "
                                     "HOME/self/switch.json is damaged"),
    _E("not_local", "state", "the value or project came from a release or another zone: override it here, "
                             "never remove it"),
    _E("unknown_tenant", "state", "no value of the project is scoped to a tenant of that name"),
    _E("unknown_environment", "state", "no environment of that name in the release's lifecycle, or (without "
                                       "one) anywhere in this zone"),
    _E("unknown_scope_value", "state", "`variables set` names a scope value nothing in the zone knows; --new "
                                       "allows it"),
    _E("unknown_phase", "state", "no lifecycle of the project's releases has a phase of that name"),
    _E("unknown_waiver", "state", "there is no waiver of that phase to withdraw"),
    _E("unknown_target", "state", "no deployment target has that name"),
    _E("unknown_target_kind", "state", "a recorded target has a kind this bundlekit cannot open",
       internal="only a newer bundlekit records other kinds; state_too_new refuses its state first"),
    _E("unknown_deployment", "state", "no deployment has that id"),
    _E("not_exported", "state", "the release was never exported to that zone: proof of its deployments cannot serve "
                                "there"),
    _E("target_exists", "state", "a target of that name already exists"),
    _E("sequence_taken", "state", "export --sequence: another bundle of the project for that zone has that number "
                                  "(decision 800)"),
    _E("outbox_empty", "state", "no receipt is waiting to be packed"),
    _E("outbox_entry_packed", "state", "another process packed an entry while this receipt was written; not packed twice",
       internal="two processes packing at once; tests/e2e/test_outbox_pack_race.py runs that race with two of them"),
    _E("release_pruned", "state", "prune removed a package of the release; bring it back (export with --full, or create it again)"),
    _E("invalid_receipt_entry", "state", "an outbox entry would make a receipt its reader refuses; nothing was packed",
       internal="names are checked where they enter (decision 125); only entries an earlier version queued break"),
    _E("no_outputs", "state", "no receipt from that zone reports a deployment of the project"),
)


def lookup(code: str) -> ErrorCode | None:
    """The registered entry for ``code``, or None."""
    return REGISTRY.get(code)

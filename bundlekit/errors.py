"""The one error tree of bundlekit.

Every refusal bundlekit makes is a :class:`BundleError` with a stable, machine-readable
``code`` (documented in ``spec/errors.md``) and a message written for a person: it names
the file, field or key path, what was expected, and what to do next. Errors are grouped
in families; the CLI maps a family to an exit code in exactly one place
(:func:`exit_code_for`).

Exit codes: 0 success, 2 usage, 3 verification or trust refusal, 4 conflict,
5 deployment failed, 1 anything else.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BundleError",
    "UsageError",
    "FormatError",
    "VerificationError",
    "TrustError",
    "ConflictError",
    "DeployError",
    "TransportError",
    "StateError",
    "InputError",
    "exit_code_for",
]


class BundleError(Exception):
    """Root of every error bundlekit raises on purpose.

    ``code`` is stable across releases (scripts match on it); ``message`` is for people.
    ``details`` carries structured extras (for example the list of conflicts) that the
    CLI includes in ``--json`` output.
    """

    exit_code = 1
    default_code = "error"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.code = code or self.default_code
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            out["details"] = self.details
        return out

    def __str__(self) -> str:
        return self.message


class UsageError(BundleError):
    """The command line itself is wrong (exit 2)."""

    exit_code = 2
    default_code = "usage"


class InputError(BundleError):
    """A user-supplied input file (release file, policy file, card) is invalid (exit 1)."""

    default_code = "invalid_input"


class FormatError(BundleError):
    """Bytes that do not follow the bundle format: truncated, malformed, unknown version.

    A malformed bundle is an integrity refusal, so this family exits 3 like verification.
    """

    exit_code = 3
    default_code = "malformed"


class VerificationError(BundleError):
    """Integrity or authenticity failed: signature, hash, size, expiry, destination (exit 3)."""

    exit_code = 3
    default_code = "verification_failed"


class TrustError(BundleError):
    """The signer or source is not trusted, or policy forbids what it sent (exit 3)."""

    exit_code = 3
    default_code = "untrusted"


class ConflictError(BundleError):
    """Incoming changes conflict with local state (exit 4)."""

    exit_code = 4
    default_code = "conflict"


class DeployError(BundleError):
    """A deployment could not start or did not succeed (exit 5)."""

    exit_code = 5
    default_code = "deploy_failed"


class TransportError(BundleError):
    """Media volumes or diode transfers that are incomplete or damaged (exit 1)."""

    default_code = "transport"


class StateError(BundleError):
    """The zone's home is missing, already exists, or is inconsistent (exit 1)."""

    default_code = "state"


def exit_code_for(error: BaseException) -> int:
    """The process exit code for an error: the one place families map to exit codes."""
    if isinstance(error, BundleError):
        return error.exit_code
    return 1

"""The one error tree of bundlekit.

Every refusal bundlekit makes is a :class:`BundleError` with a stable, machine-readable
``code`` and a message written for a person: it names the file, field or key path, what
was expected, and what to do next. Errors are grouped in families, one class each. Every
code is registered once in :mod:`bundlekit.error_codes` with its family, exit code and
meaning; constructing an error with an unregistered code, or with a code of another
family than the class raised, raises :class:`ErrorCodeMisuse` (a programming error, so
it is loud). The CLI turns an error into its exit code in one place (:func:`exit_code_for`).

Exit codes: 0 success, 2 usage, 3 verification or trust refusal, 4 conflict,
5 a deployment refused before anything ran (lifecycle, targets, preflight) or one that ran
and failed, 1 anything else (decision 198).
"""

from __future__ import annotations

from typing import Any

from bundlekit.error_codes import ALIASES, FAMILIES, REGISTRY, ErrorCode, lookup

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
    "ErrorCodeMisuse",
    "ErrorCode",
    "REGISTRY",
    "ALIASES",
    "FAMILIES",
    "exit_code_for",
    "lookup",
]


class ErrorCodeMisuse(Exception):
    """A BundleError was built with an unregistered code, or raised as the wrong family.

    Deliberately not a BundleError (the CLI must not print it as a refusal) and not a
    ValueError (callers that catch those must not swallow it): it is a bug to fix.
    """


class BundleError(Exception):
    """Root of every error bundlekit raises on purpose; raise one of its families.

    ``code`` is stable across releases (scripts match on it) and must be registered in
    :mod:`bundlekit.error_codes` under this class's ``family``; ``message`` is for people.
    ``details`` carries structured extras (for example the list of conflicts) that the
    CLI includes in ``--json`` output. ``exit_code`` is the code's registered exit code.

    Raises :class:`ErrorCodeMisuse` for an unregistered code or one of another family.
    """

    family = ""  # the root is no family: construct a subclass
    exit_code = 1

    def __init__(self, message: str, *, code: str, details: Any = None) -> None:
        entry = REGISTRY.get(code)
        if entry is None:
            raise ErrorCodeMisuse(f"error code {code!r} is not registered: add it to bundlekit/error_codes.py "
                                  "(family, meaning) and run scripts/gen_errors.py")
        if entry.family != self.family:
            raise ErrorCodeMisuse(f"error code {code!r} belongs to family {entry.family!r}; "
                                  f"{type(self).__name__} is family {self.family or '(none)'!r}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details
        self.exit_code = entry.exit_code

    def reword(self, message: str) -> None:
        """Replace the message (what a caller learned after the raise: which file, what was recorded),
        keeping the code and details; ``str(err)`` follows."""
        self.message = message
        self.args = (message,)

    @property
    def aliases(self) -> tuple[str, ...]:
        """The codes this refusal had in earlier releases (scripts may still match on them)."""
        return REGISTRY[self.code].aliases

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` error object: ``code``, ``message``, and ``aliases``/``details`` when present."""
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.aliases:
            out["aliases"] = list(self.aliases)
        if self.details is not None:
            out["details"] = self.details
        return out

    def __str__(self) -> str:
        return self.message


class UsageError(BundleError):
    """The command line itself is wrong (exit 2)."""

    family = "usage"
    exit_code = FAMILIES["usage"][0]


class InputError(BundleError):
    """A user-supplied input file (release file, policy file, card) is invalid (exit 1)."""

    family = "input"
    exit_code = FAMILIES["input"][0]


class FormatError(BundleError):
    """Bytes that do not follow the bundle format: truncated, malformed, unknown version.

    A malformed bundle is an integrity refusal, so this family exits 3 like verification.
    """

    family = "format"
    exit_code = FAMILIES["format"][0]


class VerificationError(BundleError):
    """Integrity or authenticity failed: signature, hash, size, expiry, destination (exit 3)."""

    family = "verification"
    exit_code = FAMILIES["verification"][0]


class TrustError(BundleError):
    """The signer or source is not trusted, or policy forbids what it sent (exit 3)."""

    family = "trust"
    exit_code = FAMILIES["trust"][0]


class ConflictError(BundleError):
    """Incoming changes conflict with local state (exit 4)."""

    family = "conflict"
    exit_code = FAMILIES["conflict"][0]


class DeployError(BundleError):
    """A deployment could not start or did not succeed (exit 5)."""

    family = "deploy"
    exit_code = FAMILIES["deploy"][0]


class TransportError(BundleError):
    """Media volumes or diode transfers that are incomplete or damaged (exit 1)."""

    family = "transport"
    exit_code = FAMILIES["transport"][0]


class StateError(BundleError):
    """The zone's home is missing, already exists, or is inconsistent (exit 1)."""

    family = "state"
    exit_code = FAMILIES["state"][0]


def exit_code_for(error: BaseException) -> int:
    """The process exit code for an error: the registered exit code of its code, else 1."""
    if isinstance(error, BundleError):
        return error.exit_code
    return 1

"""The error tree: families map to the documented exit codes, and spec/errors.md lists every code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bundlekit.errors import (BundleError, ConflictError, DeployError, FormatError, InputError, StateError,
                              TransportError, TrustError, UsageError, VerificationError, exit_code_for)

ROOT = Path(__file__).resolve().parent.parent


def test_families_map_to_documented_exit_codes() -> None:
    expected = {UsageError: 2, FormatError: 3, VerificationError: 3, TrustError: 3, ConflictError: 4,
                DeployError: 5, InputError: 1, StateError: 1, TransportError: 1, BundleError: 1}
    for cls, code in expected.items():
        assert exit_code_for(cls("x")) == code, cls
    assert exit_code_for(ValueError("not ours")) == 1


def test_error_json_shape() -> None:
    err = ConflictError("two edits disagree", code="conflict", details=[{"key": "a"}])
    assert err.to_dict() == {"code": "conflict", "message": "two edits disagree", "details": [{"key": "a"}]}


def test_spec_errors_lists_every_code_in_the_source() -> None:
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_errors.py"), "--check"], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr

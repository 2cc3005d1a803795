"""The memory probe memory checks rely on sees what the work allocates, and only that."""

from __future__ import annotations

from tests.memory import peak_of


def test_probe_sees_a_64_mib_allocation_in_the_fresh_process() -> None:
    peak = peak_of(setup="", work="""
        block = bytearray(64 << 20)
        block[::4096] = b"x" * len(block[::4096])  # touch every page so it is resident
    """)
    assert peak.outcome == "ok" and peak.grown_kib >= 60 * 1024, peak


def test_probe_does_not_count_what_the_setup_allocated() -> None:
    peak = peak_of(setup="""
        block = bytearray(64 << 20)
        block[::4096] = b"x" * len(block[::4096])
    """, work="""
        total = sum(range(1000))
    """)
    assert peak.outcome == "ok" and peak.grown_kib < 8 * 1024, peak


def test_probe_reports_the_code_of_what_the_work_raised() -> None:
    peak = peak_of(setup="from bundlekit.errors import FormatError", work="""
        raise FormatError("x", code="invalid_manifest")
    """)
    assert peak.outcome == "FormatError:invalid_manifest"

"""Shared helpers for the transport tests: reproducible payloads."""

from __future__ import annotations

import random
from pathlib import Path


def payload(size: int, seed: int = 0) -> bytes:
    """Half text-like, half random bytes: what a compressed-then-signed bundle plus notes looks like."""
    rng = random.Random(seed)
    half = size // 2
    text = (b"release notes line %d for the bundle\n" * (half // 30 + 1))[:half]
    return text + rng.randbytes(size - half)


def write_payload(path: Path, size: int, seed: int = 0) -> bytes:
    data = payload(size, seed)
    path.write_bytes(data)
    return data

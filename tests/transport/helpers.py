"""Shared helpers for the transport tests: reproducible payloads and folder snapshots."""

from __future__ import annotations

import hashlib
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


def snapshot(folder: Path) -> dict[str, str]:
    """Every entry of a folder (hidden ones too) with its SHA-256: 'nothing changed' checks."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(folder.iterdir())}

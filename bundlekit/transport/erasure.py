"""Reed-Solomon parity for one stripe of media volumes, on top of pyeclib (liberasurecode + ISA-L).

A stripe is chunk ``i`` of every data volume (all of one length ``c``; a short volume's
chunk is padded with zeros). :class:`StripeCodec` turns the k data chunks into m parity
chunks and rebuilds missing data chunks from any k of the k + m. Only the raw chunk bytes
are stored on the media: liberasurecode's own 80-byte fragment headers carry no data
(no fragment checksum is enabled), so they are regenerated here from an all-zero stripe
of the same shape whenever a stripe has to be decoded. See docs/decisions/011.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

from bundlekit.errors import TransportError

__all__ = ["StripeCodec", "EC_TYPE"]

#: Cauchy Reed-Solomon over GF(2^8) from ISA-L: MDS for every k + m <= 255, and fast.
EC_TYPE = "isa_l_rs_cauchy"


def _driver(k: int, m: int) -> object:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from pyeclib.ec_iface import ECDriver
        return ECDriver(k=k, m=m, ec_type=EC_TYPE)
    except ImportError as exc:  # pragma: no cover - pyeclib is a declared dependency
        raise TransportError("parity volumes need pyeclib, which is not installed; install bundlekit's "
                             "dependencies", code="parity_unavailable") from exc
    except Exception as exc:
        raise TransportError(f"the erasure-code backend {EC_TYPE} is not available here ({exc}); "
                             "install liberasurecode with ISA-L support or split without --parity",
                             code="parity_unavailable") from exc


class StripeCodec:
    """Systematic RS(k + m, k) on equal-length chunks; parity chunks are the same length."""

    def __init__(self, data_count: int, parity_count: int) -> None:
        if data_count < 1 or parity_count < 1:
            raise ValueError("a stripe codec needs at least one data and one parity chunk")
        self.k = data_count
        self.m = parity_count
        self._ec: object = _driver(data_count, parity_count)
        self._headers: dict[int, list[bytes]] = {}

    def _fragments(self, stripe: bytes, length: int) -> list[bytes]:
        frags: list[bytes] = self._ec.encode(stripe)  # type: ignore[attr-defined]
        if len(frags) != self.k + self.m or any(len(f) != len(frags[0]) for f in frags):
            raise TransportError("the erasure-code backend returned an unexpected fragment set",
                                 code="parity_unavailable")
        return frags

    def _header_prefixes(self, length: int) -> list[bytes]:
        cached = self._headers.get(length)
        if cached is None:
            frags = self._fragments(bytes(self.k * length), length)
            hlen = len(frags[0]) - length
            # The layout assumption this module rests on: a fragment is header + exactly one chunk.
            if hlen < 0 or any(any(f[hlen:]) for f in frags[:self.k]):
                raise TransportError("the erasure-code backend pads fragments; parity layout unsupported",
                                     code="parity_unavailable")
            cached = [f[:hlen] for f in frags]
            if len(self._headers) > 4:
                self._headers.clear()
            self._headers[length] = cached
        return cached

    def encode(self, chunks: Sequence[bytes]) -> list[bytes]:
        """Parity chunks for k data chunks of one common length."""
        if len(chunks) != self.k:
            raise ValueError(f"expected {self.k} chunks, got {len(chunks)}")
        length = len(chunks[0])
        if any(len(c) != length for c in chunks):
            raise ValueError("stripe chunks must all have the same length")
        hlen = len(self._header_prefixes(length)[0])
        frags = self._fragments(b"".join(chunks), length)
        return [f[hlen:] for f in frags[self.k:]]

    def decode(self, available: Mapping[int, bytes], length: int) -> dict[int, bytes]:
        """Rebuild the missing data chunks from any k available chunks (index 0..k+m-1)."""
        if len(available) < self.k:
            raise TransportError(f"a stripe needs {self.k} of {self.k + self.m} chunks, only {len(available)} "
                                 "are readable", code="volumes_incomplete")
        heads = self._header_prefixes(length)
        chosen = sorted(available)[: self.k]  # data chunks sort first: the cheapest decode
        frags = [heads[i] + available[i] for i in chosen]
        data: bytes = self._ec.decode(frags)  # type: ignore[attr-defined]
        if len(data) != self.k * length:
            raise TransportError("the erasure-code backend returned a stripe of the wrong size",
                                 code="parity_unavailable")
        return {j: data[j * length:(j + 1) * length] for j in range(self.k) if j not in available}

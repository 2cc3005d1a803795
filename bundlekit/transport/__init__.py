"""Carrying bundles across the gap: removable-media volumes and a one-way data diode.

A bundle is an opaque file here; nothing in this package parses one. Two carriers:

- **media** (``media``, ``media_scan``, ``volume``, ``erasure``): cut a bundle into
  self-checking volumes with optional Reed-Solomon parity, check a set, join it back.
- **diode** (``frames``, ``fec``, ``channel``, ``diode_send``, ``diode_receive``,
  ``diode_loop``, ``diode_report``): send files one way as a paced RaptorQ carousel over UDP or a
  mirrored spool folder.

The byte layouts are normative in ``spec/transport.md``.
"""

from bundlekit.transport.channel import LossyChannel, MemoryChannel, SpoolChannel, UdpChannel
from bundlekit.transport.diode_loop import receive
from bundlekit.transport.diode_receive import FileResult, ReceiveReport, Receiver
from bundlekit.transport.diode_send import SendOptions, SendReport, iter_frames, send
from bundlekit.transport.media import (
    DEFAULT_VOLUME_SIZE, MediaReport, VolumeSet, check, find_volume_set, is_volume_dir, join, join_to_temp, split,
)

__all__ = [
    "split", "check", "join", "join_to_temp", "find_volume_set", "is_volume_dir", "MediaReport", "VolumeSet",
    "DEFAULT_VOLUME_SIZE",
    "send", "iter_frames", "SendOptions", "SendReport", "receive", "Receiver", "ReceiveReport", "FileResult",
    "UdpChannel", "SpoolChannel", "MemoryChannel", "LossyChannel",
]

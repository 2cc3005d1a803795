"""`media split|check|join` and `diode send|receive`: carrying bundles across the gap."""

from __future__ import annotations

from pathlib import Path

import click

from bundlekit.cli import cli
from bundlekit.cli.common import ASCII_INT, counted, echo, emit_json, json_option, overwrite_option, quiet_option
from bundlekit.cli.progress import Bars
from bundlekit.core.text import shell_word, size_text
from bundlekit.errors import BundleError, TransportError, UsageError
from bundlekit.format.container import BundleFile
from bundlekit.transport._util import keep_freed_memory, parse_size
from bundlekit.transport.channel import SpoolChannel, UdpChannel, parse_address
from bundlekit.transport.diode_loop import DEFAULT_IDLE_TIMEOUT, receive
from bundlekit.transport.diode_report import ReceiveReport
from bundlekit.transport.diode_send import DEFAULT_RATE, DEFAULT_REDUNDANCY, SendOptions, send
from bundlekit.transport.media import DEFAULT_VOLUME_SIZE, SplitNotes, check, join, split, split_leftovers
from bundlekit.transport.volume import parse_header


@cli.group(epilog="bundlekit media split app.bundle --out /media/usb1 --parity 1\n"
                  "bundlekit media check /media/usb1 /media/usb2\n"
                  "bundlekit media join /media/usb1 /media/usb2 -o app.bundle")
def media() -> None:
    """Carry a bundle on removable media as self-checking volumes (optionally with parity)."""


@media.command("split", epilog="bundlekit media split app.bundle --volume-size 700M --out ./vols --parity 2")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--volume-size", "volume_size", default=str(DEFAULT_VOLUME_SIZE), show_default=True,
              help="Largest volume file, header included: bytes or K/M/G (powers of 1024). "
                   "The default fits FAT32 (4 GiB - 1).")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write the volumes into.")
@click.option("--parity", type=ASCII_INT, default=0, show_default=True,
              help="Parity volumes: any N missing or damaged volumes can be rebuilt.")
@click.option("--replace", is_flag=True,
              help="The folder holds volumes of another bundle: remove them once the new ones are written "
                   "(only files named as bundlekit names volumes).")
@quiet_option
@json_option
def media_split(bundle: Path, volume_size: str, out: Path, parity: int, replace: bool, quiet: bool,
                as_json: bool) -> None:
    """Cut a bundle into volumes that each name the bundle and carry their own SHA-256.

    A folder that already holds volumes of another set (an old set on the stick) is refused,
    naming the files, unless --replace; a folder that already holds this very set is left as
    it is.
    """
    from bundlekit.zone.outputs import check_output_folder  # the zone layer only when used (decision 830)

    check_output_folder(out, "--out")  # never into a zone's home (decision 942)
    size = parse_size(volume_size, what="--volume-size")
    if size > DEFAULT_VOLUME_SIZE and not as_json:
        echo(f"note: volumes of {size} bytes do not fit on FAT32 sticks (largest file {DEFAULT_VOLUME_SIZE} "
             "bytes, the default); use exFAT or NTFS media", err=True)
    leftovers: list[tuple[Path, int]] = []
    notes = SplitNotes()
    with Bars("split", quiet=quiet, as_json=as_json) as bars:
        paths = split(bundle, out, size, parity, replace=replace, progress=bars, leftovers=leftovers, notes=notes)
    digest = bundle_digest(bundle)
    vols = []
    for p in paths:
        with open(p, "rb") as f:
            h = parse_header(f.read(512))
        vols.append({"path": str(p), "index": h.index, "kind": "parity" if h.is_parity else "data",
                     "size": p.stat().st_size, "payload_sha256": h.payload_sha256.hex()})
    if as_json:
        emit_json({"bundle": h.name, "size": h.bundle_size, "sha256": h.bundle_sha256.hex(), "digest": digest,
                   "data_volumes": h.data_count, "parity_volumes": h.parity_count, "volumes": vols,
                   "removed_leftovers": [{"path": str(p), "size": n} for p, n in leftovers],
                   "replaced": [{"path": str(p), "size": n} for p, n in notes.replaced], "unchanged": notes.unchanged})
        return
    if notes.unchanged:
        echo(f"nothing to do: {out} already holds this set of {h.name} ({h.data_count} data + {h.parity_count} "
             f"parity volume(s), sha256 {h.bundle_sha256.hex()}); `bundlekit media check {shell_word(str(out))}` verifies them")
        return
    if notes.replaced:
        echo(f"removed {len(notes.replaced)} volume(s) of the set that was in {out} "
             f"({size_text(sum(n for _, n in notes.replaced))}), once the new ones were in place: "
             + ", ".join(p.name for p, _ in notes.replaced))
    if leftovers:
        echo(f"removed {len(leftovers)} temporary file(s) ({size_text(sum(n for _, n in leftovers))}) interrupted "
             f"bundlekit commands (a split, most often) left in {out}")
    echo(f"split {h.name} ({size_text(h.bundle_size)}, sha256 {h.bundle_sha256.hex()}) into "
         f"{h.data_count} data + {h.parity_count} parity volume(s) in {out}:")
    if digest:
        echo(f"  bundle digest {digest} (as bundlekit export and inspect show it)")
    for v in vols:
        echo(f"  {v['path']}  ({size_text(v['size'])})")


_SET_HELP = "When the folders hold volumes of several bundles: the one to use (8+ characters of its SHA-256)."


@media.command("check", epilog="bundlekit media check /media/usb1 /media/usb2 --json")
@click.argument("dirs", nargs=-1, required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--set", "set_choice", default=None, metavar="SHA256-PREFIX", help=_SET_HELP)
@quiet_option
@json_option
def media_check(dirs: tuple[Path, ...], set_choice: str | None, quiet: bool, as_json: bool) -> None:
    """Check every volume in the folders; exit 0 only if the bundle can be joined.

    Folders holding volumes of more than one bundle exit non-zero (volumes_mixed), each set
    described, until --set chooses one.
    """
    with Bars("check", quiet=quiet, as_json=as_json) as bars:
        report = check(list(dirs), set_choice, progress=bars)
    left = [(p, p.stat().st_size) for p in split_leftovers(dirs)]
    if not as_json:
        for p, n in left:
            echo(f"  {'leftover':<10} {p}  ({size_text(n)}: a temporary file of an interrupted bundlekit media "
                 "split; delete it, or split again into this folder)")
        for v in report.volumes:
            label = v.label or "volume"
            echo(f"  {v.status:<10} {label:<26} {v.path}" + (f"  ({v.detail})" if v.detail else ""))
        for i in report.missing:
            echo(f"  {'missing':<10} {report.label(i)}")
        if report.mixed and report.code == "volumes_mixed":
            for b in report.bundles:
                echo(f"  set        {b.describe()}")
    found = {"leftovers": [{"path": str(p), "size": n} for p, n in left]}
    if not report.joinable:
        raise TransportError(report.message + (f"; {len(left)} temporary file(s) of an interrupted split "
                                               f"({size_text(sum(n for _, n in left))}) listed above" if left else ""),
                             code=report.code or "volumes_incomplete", details={**report.to_dict(), **found})
    if as_json:
        emit_json({**report.to_dict(), **found})
    else:
        echo(report.message)


@media.command("join", epilog="bundlekit media join /media/usb1 /media/usb2 -o acme-1.4.0.bundle")
@click.argument("dirs", nargs=-1, required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the rebuilt bundle (appears only if its SHA-256 matches; outside any zone's home; "
                   "a new file unless --overwrite).")
@overwrite_option
@click.option("--set", "set_choice", default=None, metavar="SHA256-PREFIX", help=_SET_HELP)
@quiet_option
@json_option
def media_join(dirs: tuple[Path, ...], output: Path, overwrite: bool, set_choice: str | None, quiet: bool,
               as_json: bool) -> None:
    """Rebuild the bundle from volumes in any order, using parity for missing or damaged ones.

    Folders holding volumes of more than one bundle are refused, each set described, until
    --set chooses one.
    """
    from bundlekit.zone.outputs import check_output, exists_refusal  # the zone layer only when used (decision 830)

    check_output(output, "-o", overwrite=overwrite)  # no zone here: any zone's home is refused (decision 942)
    try:
        with Bars("join", quiet=quiet, as_json=as_json) as bars:
            path = join(list(dirs), output, choice=set_choice, progress=bars, exclusive=not overwrite)
    except FileExistsError:
        raise exists_refusal(output, "-o") from None
    digest = bundle_digest(path)
    if as_json:
        emit_json({"path": str(path), "size": path.stat().st_size, "digest": digest})
    else:
        echo(f"joined {path} ({size_text(path.stat().st_size)}, SHA-256 checked)"
             + (f"; bundle digest {digest}" if digest else ""))


def bundle_digest(path: Path) -> str | None:
    """The bundle digest of a file that is a bundle (what export, inspect and verify call
    ``digest``), or None for any other file: so a carried file can be matched to its export."""
    try:
        with BundleFile(path) as bf:
            return bf.digest
    except (BundleError, OSError):
        return None


@cli.group(epilog="bundlekit diode receive --listen 0.0.0.0:5005 --out ./inbox\n"
                  "bundlekit diode send app.bundle --to 10.0.0.2:5005 --repeat 1")
def diode() -> None:
    """Send bundles one way through a data diode (UDP, or a folder the diode mirrors).

    Frames are not authenticated and not encrypted: anyone on the link can read them (only a
    bundle's sensitive values are sealed) and inject their own. A received file is only what
    its frames announced; `bundlekit import` checks the bundle's signatures before anything in
    it is used (spec/transport.md 3.10).
    """


def _rate(text: str) -> int:
    return parse_size(text, what="--rate")


@diode.command("send", epilog="bundlekit diode send app.bundle --to 10.0.0.2:5005 --rate 50M --repeat 1")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--to", "to", default=None, help="Receiver's HOST:PORT (UDP).")
@click.option("--rate", "rate", default=str(DEFAULT_RATE), show_default=True,
              help="Pace in bytes per second (K/M/G = powers of 1024; 0 = unpaced).")
@click.option("--redundancy", type=float, default=DEFAULT_REDUNDANCY, show_default=True,
              help="Repair symbols as a fraction of source symbols per block (0.15 = 15% extra).")
@click.option("--repeat", type=ASCII_INT, default=0, show_default=True,
              help="Send the whole carousel N more times, with fresh repair symbols each time.")
@click.option("--spool", "spool", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="Write frames as files into this folder instead of UDP.")
@quiet_option
@json_option
def diode_send(files: tuple[Path, ...], to: str | None, rate: str, redundancy: float, repeat: int,
               spool: Path | None, quiet: bool, as_json: bool) -> None:
    """Send files as a paced, forward-error-corrected carousel; nothing ever comes back."""
    if (to is None) == (spool is None):
        raise UsageError("give exactly one of --to HOST:PORT (UDP) or --spool DIR", code="usage")
    if spool is not None:
        from bundlekit.zone.outputs import check_output_folder  # the zone layer only when used (decision 830)

        check_output_folder(spool, "--spool")  # frames are files written there: never in a zone's home
    opts = SendOptions(rate=_rate(rate), redundancy=redundancy, repeat=repeat)
    keep_freed_memory()
    channel: UdpChannel | SpoolChannel
    if to is not None:
        channel = UdpChannel.sender(*parse_address(to, option="--to"))
    else:
        assert spool is not None
        channel = SpoolChannel.for_sending(spool)
    try:
        with Bars("send", quiet=quiet, as_json=as_json) as bars:
            report = send(list(files), channel, opts, progress=bars)
    finally:
        channel.close()
    d = report.to_dict()
    if as_json:
        emit_json(d)
        return
    echo(f"sent {len(report.files)} file(s) in session {report.session}: {report.frames} frames, "
         f"{size_text(report.wire_bytes)} in {report.seconds:.2f}s (overhead {100 * (d['overhead'] or 0):.1f}%)")


def _receive(listen: str | None, spool: Path | None, out: Path, idle_timeout: float, once: bool,
             bars: Bars) -> tuple[ReceiveReport, str]:
    """Receive on the carrier given; returns the report and where the receiver looked (as shown)."""
    keep_freed_memory()
    if listen is not None:
        udp = UdpChannel.listener(*parse_address(listen, option="--listen"))
        host, port = udp.address
        echo(f"listening on {host}:{port}", err=True)
        try:
            return receive(udp, out, idle_timeout=idle_timeout, once=once, progress=bars), f"{host}:{port}"
        finally:
            udp.close()
    assert spool is not None
    folder = SpoolChannel.for_receiving(spool)
    echo(f"watching {spool}", err=True)
    try:
        return receive(folder, out, idle_timeout=idle_timeout, once=once, progress=bars), str(spool)
    finally:
        folder.close()
        if folder.files_stuck:
            echo(f"warning: {counted(len(folder.files_stuck), 'spool file')} in {spool} could not be removed once read "
                 f"({', '.join(folder.files_stuck[:3])}{', ...' if len(folder.files_stuck) > 3 else ''}); each was "
                 "read once. Remove them by hand, or let this user delete in that folder", err=True)
        if folder.entries_ignored:
            echo(f"warning: {counted(len(folder.entries_ignored), 'entry', 'entries')} in {spool} named like spool "
                 f"files {'is not a regular file' if len(folder.entries_ignored) == 1 else 'are not regular files'} "
                 f"and {'was' if len(folder.entries_ignored) == 1 else 'were'} ignored "
                 f"({', '.join(folder.entries_ignored[:3])})", err=True)


@diode.command("receive", epilog="bundlekit diode receive --listen 0.0.0.0:5005 --out ./inbox --json")
@click.option("--listen", "listen", default=None, help="HOST:PORT to receive UDP on (port 0 picks one).")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for received files (created if missing).")
@click.option("--idle-timeout", "idle_timeout", type=float, default=DEFAULT_IDLE_TIMEOUT, show_default=True,
              help="Give up after this many seconds without a valid frame (nothing, or not everything, arrived).")
@click.option("--spool", "spool", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="Read frame files from this folder instead of UDP; each is deleted once every file its "
                   "frames belong to is finished (kept for the next run until then).")
@click.option("--once", is_flag=True,
              help="Return as soon as one sender's files are finished, even if another sender's are waiting.")
@quiet_option
@json_option
def diode_receive(listen: str | None, out: Path, idle_timeout: float, spool: Path | None, once: bool, quiet: bool,
                  as_json: bool) -> None:
    """Receive files; return once every file the sender announced is complete and verified.

    Only files whose SHA-256 matches their announcement are kept. Without --once, deliveries
    already waiting behind the first (a spool folder holding two) are taken too; --idle-timeout
    ends the wait when nothing, or not everything, arrives.

    Frames are not authenticated: anyone on the link can announce files too. Treat --out as an
    inbox of untrusted files and bring bundles in with `bundlekit import`, which checks their
    signatures (spec/transport.md 3.10).
    """
    if (listen is None) == (spool is None):
        raise UsageError("give exactly one of --listen HOST:PORT (UDP) or --spool DIR", code="usage")
    if idle_timeout < 0:
        raise UsageError(f"--idle-timeout {idle_timeout}: expected seconds >= 0", code="usage")
    from bundlekit.zone.outputs import check_output_folder  # the zone layer only when used (decision 830)

    check_output_folder(out, "--out")  # received files never land in a zone's home (decision 942)
    if spool is not None:
        check_output_folder(spool, "--spool")  # spent frame files are removed from it
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        with Bars("receive", quiet=quiet, as_json=as_json) as bars:
            report, looked = _receive(listen, spool, out, idle_timeout, once, bars)
        report.raise_for_status(listen=looked if listen is not None else None,
                                spool=looked if spool is not None else None)
    except BaseException:
        if created and not any(out.iterdir()):
            out.rmdir()  # a refused receive leaves no trace, not even the folder it made
        raise
    if as_json:
        emit_json(report.to_dict())
        return
    for f in report.files:
        echo(f"  {f.status:<16} {f.name}  ({size_text(f.size)}, sha256 {f.sha256})")
    echo(f"received {len(report.files)} file(s) intact")
    if report.spool_kept:
        echo(f"note: {counted(len(report.spool_kept), 'spool file')} kept in {spool}: "
             f"{'its' if len(report.spool_kept) == 1 else 'their'} frames belong to no file finished here (another "
             "sender's, or one still incomplete); the next bundlekit diode receive --spool reads them again",
             err=True)

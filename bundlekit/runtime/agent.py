"""The runner's main loop: read requests from stdin, answer on stdout, one at a time.

``python3 runner.pyz WORK_DIR RUNNER_SHA`` (started by the bootstrap of
:mod:`bundlekit.runtime.boot`). Before answering anything it moves the real stdout out of the
way (fd 1 then points at stderr, so nothing printed by accident can corrupt a frame), prepares
the work folder and sweeps what interrupted runs left. Then it serves ``hello``, ``have``,
``put``, ``step``, ``prune`` and ``bye`` (``spec/runner.md``). A reader thread takes frames off
stdin, so a ``cancel`` or the end of stdin (the zone or the connection is gone) stops a running
script and its process group at once; the runner then exits. Shipped to targets: Python 3.8 or newer.
"""

from __future__ import annotations

import getpass
import importlib.util
import os
import platform
import queue
import sys
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO, Dict, Iterator, List, Optional, Tuple

from bundlekit.errors import BundleError, DeployError
from bundlekit.runtime.protocol import DATA, PROTOCOL, FrameReader, ProtocolError, encode_message, write_frame
from bundlekit.runtime.reaper import become_subreaper, end_leftovers
from bundlekit.runtime.step import run_step
from bundlekit.runtime.workdir import WorkFolder

__all__ = ["main", "Agent"]

_EOF = (b"", None)
#: Frames waiting to be handled (bounds the memory of a package in flight: 64 x 256 KiB).
_QUEUE = 64


class Agent:
    """Serves one zone connection on ``inbound``/``outbound`` with the work folder ``work``."""

    def __init__(self, work: WorkFolder, runner_sha: str, inbound: BinaryIO, outbound: BinaryIO) -> None:
        self.work, self.runner_sha = work, runner_sha
        self.outbound = outbound
        self.reader = FrameReader(inbound)
        self.frames: "queue.Queue[Tuple[bytes, Any]]" = queue.Queue(_QUEUE)
        self.cancel = threading.Event()
        self.gone = threading.Event()
        self.lock = threading.Lock()
        self.swept: List[str] = []

    def send(self, message: Dict[str, Any]) -> None:
        with self.lock:
            write_frame(self.outbound, encode_message(message))

    def _read_frames(self) -> None:
        try:
            while True:
                frame = self.reader.read()
                if frame is None:
                    break
                kind, payload = frame
                if kind != DATA and payload.get("op") == "cancel":
                    self.cancel.set()
                    continue
                self.frames.put(frame)
        except (ProtocolError, OSError, ValueError):
            pass
        self.gone.set()
        self.cancel.set()  # the zone is gone: nothing may go on running for it
        self.frames.put(_EOF)

    def next(self) -> Tuple[bytes, Any]:
        return self.frames.get()

    def serve(self) -> int:
        threading.Thread(target=self._read_frames, name="bundlekit-runner-reader", daemon=True).start()
        while True:
            kind, message = self.next()
            if message is None:
                return 0
            if kind == DATA:
                self.send({"op": "error", "code": "runner_protocol", "message": "data frame outside a put"})
                return 1
            op = message.get("op")
            try:
                if op == "bye":
                    self.send({"op": "bye"})
                    return 0
                if op == "hello":
                    self.send(self.hello())
                elif op == "have":
                    present, discarded = self.work.held_archive(message["sha256"], message["file_name"],
                                                                message.get("size"))
                    answer: Dict[str, Any] = {"op": "have", "present": present}
                    if discarded is not None:
                        answer["discarded"] = discarded
                    self.send(answer)
                elif op == "put":
                    self.put(message)
                elif op == "prune":
                    self.send(dict(self.work.prune(list(message.get("packages") or []),
                                                   list(message.get("archives") or []),
                                                   list(message.get("work") or [])), op="pruned"))
                elif op == "step":
                    self.cancel.clear()
                    if self.gone.is_set():
                        return 0
                    result = run_step(message, self.work, lambda line: self.send({"op": "log", "line": line}),
                                      self.cancel, lambda report: self.send(dict(report, op="progress")))
                    left = end_leftovers()  # the step is over when everything it started is (decision 471)
                    if left:
                        self.send({"op": "log", "line": f"[bundlekit] the step left {left} process(es) running "
                                                        "outside its process group; they were killed"})
                    self.send(result)
                else:
                    self.send({"op": "error", "code": "runner_protocol", "message": f"unknown request {op!r}"})
            except BundleError as error:
                self.send({"op": "error", "code": error.code, "message": error.message})
            except (KeyError, TypeError, ValueError) as error:
                self.send({"op": "error", "code": "runner_protocol", "message": f"malformed {op!r} request: {error!r}"})

    def hello(self) -> Dict[str, Any]:
        return {
            "op": "hello", "protocol": PROTOCOL, "runner": self.runner_sha,
            "python": platform.python_version(), "executable": sys.executable,
            "work_dir": str(self.work.root), "free_bytes": self.work.free_bytes(), "time": time.time(),
            "user": _user(), "uid": os.getuid(), "swept": self.swept, "formats": config_formats(),
        }

    def put(self, message: Dict[str, Any]) -> None:
        size = int(message["size"])
        problem: Optional[BundleError] = None

        def chunks() -> Iterator[bytes]:
            received = 0
            while received < size:
                kind, payload = self.next()
                if payload is None:
                    raise DeployError("the zone went away while sending a package", code="runner_protocol")
                if kind != DATA:
                    raise DeployError("a request arrived in the middle of a package", code="runner_protocol")
                received += len(payload)
                yield payload

        try:
            self.work.receive(message["sha256"], message["file_name"], size, chunks())
        except BundleError as error:
            problem = error
        if problem is not None:
            raise problem
        self.send({"op": "put", "ok": True})


def config_formats() -> List[str]:
    """The structured configuration formats this Python can apply, sorted. JSON and properties
    need nothing, YAML the vendored ruamel.yaml; XML needs lxml, which is not shipped (decision
    140), so the zone can refuse a deployment before it starts rather than halfway (decision 522).
    Looked up, not imported: the answer costs no import time."""
    found = ["json", "properties"]
    for fmt, module in (("yaml", "ruamel.yaml"), ("xml", "lxml.etree")):
        try:
            present = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            present = False
        if present:
            found.append(fmt)
    return sorted(found)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of the zipapp: ``runner.pyz WORK_DIR RUNNER_SHA``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        sys.stderr.write("usage: runner.pyz WORK_DIR RUNNER_SHA (started by bundlekit, not by hand)\n")
        return 2
    # The protocol owns the real stdout; anything else written to fd 1 goes to stderr.
    outbound = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    inbound = os.fdopen(os.dup(0), "rb", buffering=0)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    become_subreaper()  # every process a step starts stays below the runner, to be ended with the step
    work = WorkFolder(Path(args[0]))
    agent = Agent(work, args[1], inbound, outbound)
    try:
        work.prepare()
        agent.swept = work.sweep()
    except BundleError as error:
        agent.send({"op": "error", "code": error.code, "message": error.message})
        return 1
    try:
        return agent.serve()
    finally:
        end_leftovers()

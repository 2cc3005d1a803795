"""Run the bundlekit CLI and SIGKILL ourselves at the N-th traced event (crash-safety tests).

    python crash_runner.py N bundlekit-args...

Events are calls into bundlekit code and C calls into sqlite3/os (execute, commit, replace,
fsync, write...). With N = 0 nothing is killed and the event count is printed on stderr
as ``EVENTS <n>``, so a test can pick kill points across the whole import.
"""

from __future__ import annotations

import os
import signal
import sys

KILL_AT = int(sys.argv[1])
COUNT = 0
WATCHED_C = {"execute", "commit", "replace", "fsync", "write", "rename", "unlink", "rmtree", "mkdir", "close"}


def _profile(frame, event, arg):  # type: ignore[no-untyped-def]
    global COUNT
    if event == "call":
        if "bundlekit" not in frame.f_code.co_filename:
            return
    elif event == "c_call":
        if getattr(arg, "__name__", "") not in WATCHED_C:
            return
    else:
        return
    COUNT += 1
    if KILL_AT and COUNT == KILL_AT:
        os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    sys.argv = ["bundlekit", *sys.argv[2:]]
    from bundlekit.cli import cli

    sys.setprofile(_profile)
    try:
        cli.main(prog_name="bundlekit", standalone_mode=False)
    finally:
        sys.setprofile(None)
        sys.stderr.write(f"\nEVENTS {COUNT}\n")


if __name__ == "__main__":
    main()

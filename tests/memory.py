"""Peak memory of a fresh process: what a memory check must read.

``ru_maxrss`` of the test process is a high-water mark over everything the suite did before, so
a check that reads it can pass whatever the code under test does. These helpers run the work in
a new Python process and read that process's own peak (``VmHWM`` in ``/proc/self/status``, else
``ru_maxrss``) right before and right after it, so the difference is what the work cost.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_PROBE = """
import json, resource, sys

def _peak_kib():
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

{setup}
_before = _peak_kib()
_outcome = "ok"
try:
{work}
except BaseException as _err:
    _outcome = type(_err).__name__ + ":" + str(getattr(_err, "code", ""))
print(json.dumps({{"before_kib": _before, "after_kib": _peak_kib(), "outcome": _outcome}}))
"""


@dataclass(frozen=True)
class Peak:
    before_kib: int  # the fresh process's peak once ``setup`` ran (interpreter, imports, inputs)
    after_kib: int  # its peak once ``work`` ran
    outcome: str  # "ok", or "<ExceptionClass>:<code>" of what ``work`` raised

    @property
    def grown_kib(self) -> int:
        return self.after_kib - self.before_kib


def peak_of(setup: str, work: str, timeout: float = 300) -> Peak:
    """Run ``setup`` then ``work`` (Python source) in a new interpreter; their peak memory."""
    source = _PROBE.format(setup=textwrap.dedent(setup), work=textwrap.indent(textwrap.dedent(work), "    "))
    r = subprocess.run([sys.executable, "-c", source], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout.strip().splitlines()[-1])
    return Peak(data["before_kib"], data["after_kib"], data["outcome"])

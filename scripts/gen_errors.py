"""Regenerate the code table of spec/errors.md from the source (run after adding an error code).

    python scripts/gen_errors.py          # rewrites the table between the markers
    python scripts/gen_errors.py --check  # exit 1 if spec/errors.md is out of date
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "spec" / "errors.md"
BEGIN, END = "<!-- codes:begin -->", "<!-- codes:end -->"
EXIT = {"UsageError": 2, "FormatError": 3, "VerificationError": 3, "TrustError": 3, "ConflictError": 4,
        "DeployError": 5}
FAMILY = {"UsageError": "usage", "InputError": "input", "FormatError": "format", "VerificationError": "verification",
          "TrustError": "trust", "ConflictError": "conflict", "DeployError": "deploy", "TransportError": "transport",
          "StateError": "state", "SubstitutionError": "input", "BundleError": "other"}


def collect() -> dict[str, tuple[set[str], set[str]]]:
    codes: dict[str, tuple[set[str], set[str]]] = {}
    for path in sorted((ROOT / "bundlekit").rglob("*.py")):
        text = path.read_text()
        for m in re.finditer(r'code="([a-z_]+)"', text):
            before = text[max(0, m.start() - 1500):m.start()]
            classes = re.findall(r"\b([A-Z][A-Za-z]*Error)\(", before)
            cls = classes[-1] if classes else "BundleError"
            fams, mods = codes.setdefault(m.group(1), (set(), set()))
            fams.add(cls)
            mods.add(str(path.relative_to(ROOT / "bundlekit").with_suffix("")).replace("/", "."))
    return codes


def table() -> str:
    lines = ["| code | family | exit | raised in |", "|---|---|---|---|"]
    for code, (classes, mods) in sorted(collect().items()):
        fams = sorted({FAMILY.get(c, "other") for c in classes})
        exits = sorted({str(EXIT.get(c, 1)) for c in classes})
        lines.append(f"| `{code}` | {', '.join(fams)} | {', '.join(exits)} | {', '.join(sorted(mods))} |")
    return "\n".join(lines)


def main() -> int:
    text = SPEC.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    new = text[:start] + "\n" + table() + "\n" + text[end:]
    if "--check" in sys.argv:
        if new != text:
            print("spec/errors.md is out of date: run python scripts/gen_errors.py", file=sys.stderr)
            return 1
        return 0
    SPEC.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Regenerate the tables of spec/errors.md from the registry (bundlekit/error_codes.py).

    python scripts/gen_errors.py          # rewrites the tables between the markers
    python scripts/gen_errors.py --check  # exit 1 if spec/errors.md is out of date
    python scripts/gen_errors.py --spec FILE [--check]   # another copy of the file

The prose around the markers is kept as written; only the family table, the code table
and the alias table come from the registry.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bundlekit.error_codes import ALIASES, FAMILIES, REGISTRY  # noqa: E402

SPEC = ROOT / "spec" / "errors.md"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def families() -> str:
    lines = ["| family | exit | meaning |", "|---|---|---|"]
    for name, (code, meaning) in sorted(FAMILIES.items(), key=lambda kv: (kv[1][0], kv[0])):
        lines.append(f"| {name} | {code} | {_cell(meaning)} |")
    return "\n".join(lines)


def codes() -> str:
    lines = ["| code | family | exit | meaning | a user can cause it | home changes | formerly |",
             "|---|---|---|---|---|---|---|"]
    order = list(FAMILIES)
    for e in sorted(REGISTRY.values(), key=lambda e: (order.index(e.family), e.code)):
        user = "yes" if e.user_causable else f"no: {_cell(e.internal)}"
        formerly = ", ".join(f"`{a}`" for a in e.aliases)
        lines.append(f"| `{e.code}` | {e.family} | {e.exit_code} | {_cell(e.meaning)} | {user} | "
                     f"{e.exception} | {formerly} |")
    return "\n".join(lines)


def aliases() -> str:
    lines = ["| alias | listed under `aliases` by | still a code of its own |", "|---|---|---|"]
    for old, new in ALIASES.items():
        live = REGISTRY.get(old)
        still = (f"yes ({live.family}, exit {live.exit_code}): {_cell(live.meaning)}" if live is not None
                 else "no: renamed or split")
        lines.append(f"| `{old}` | {', '.join(f'`{n}`' for n in new)} | {still} |")
    return "\n".join(lines)


SECTIONS = {"families": families, "codes": codes, "aliases": aliases}


def generate(text: str) -> str:
    for name, make in SECTIONS.items():
        begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
        start, stop = text.index(begin) + len(begin), text.index(end)
        text = text[:start] + "\n" + make() + "\n" + text[stop:]
    return text


def main(argv: list[str]) -> int:
    spec = Path(argv[argv.index("--spec") + 1]) if "--spec" in argv else SPEC
    text = spec.read_text("utf-8")
    new = generate(text)
    if "--check" in argv:
        if new != text:
            print(f"{spec} is out of date: run python scripts/gen_errors.py", file=sys.stderr)
            return 1
        return 0
    spec.write_text(new, "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

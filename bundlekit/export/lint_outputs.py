"""Lint of output names: a reference to an output its step never sets.

``#{Octopus.Action[Run migrations].Output.SchemaVerison}`` names a step that exists and runs
earlier, so the deploy's preflight accepts it (an output's value is only known at run time,
``spec/deploy.md``); the run that reads it then fails, in the secure zone, because the step set
``SchemaVersion``. Where lint can read every name a step sets, it says so: the step is a script
step whose script calls ``set_octopusvariable`` only with names written out (bash and Python,
the helpers of ``runtime/helpers.py``). A step whose script computes a name, writes the service
message itself or is a package step (whose scripts are in the package) is not judged. It is a
warning (``output_never_set``): a script can set a name in ways a text scan does not see.
"""

from __future__ import annotations

import re
from typing import Any

from bundlekit.core.text import closest
from bundlekit.export.lint_model import WARNING, Finding, entries
from bundlekit.export.lint_templates import Template, hide_secret
from bundlekit.export.releasefile import OUTPUT_REF
from bundlekit.substitution.references import plain_references

__all__ = ["check_output_names", "names_set"]

_CALL = re.compile(r"\bset_octopusvariable\b")
#: A call's first argument written out: quoted without any expansion in it, or a bare bash word.
_LITERAL = re.compile(r"""\s*\(?\s*(?:"([^"$`\\{}#]*)"|'([^'{}#]*)'|([A-Za-z0-9_.:-]+)(?=[\s;]))""")


def names_set(script: str) -> set[str] | None:
    """The casefolded output names ``script`` sets, or None when it may set others (a name that is
    computed, a service message written by hand, the helper passed around)."""
    if "##octopus[" in script.casefold().replace(" ", ""):
        return None
    out: set[str] = set()
    for m in _CALL.finditer(script):
        arg = _LITERAL.match(script, m.end())
        if arg is None:
            return None
        name = next(g for g in arg.groups() if g is not None)
        if not name:
            return None
        out.add(name.casefold())
    return out


def check_output_names(templates: list[Template], doc: dict[str, Any], steps: list[str]) -> list[Finding]:
    """A warning for each output reference (written out) to a script step that never sets that name."""
    sets: dict[str, tuple[str, set[str], list[str]]] = {}
    for _, s in entries(doc, "steps"):
        script = s.get("script")
        if s.get("type") != "script" or not isinstance(s.get("name"), str) or not isinstance(script, str):
            continue
        names = names_set(script)
        if names is not None:
            spelled = [m.group(1) or m.group(2) or m.group(3) for c in _CALL.finditer(script)
                       if (m := _LITERAL.match(script, c.end()))]
            sets[s["name"].casefold()] = (s["name"], names, list(dict.fromkeys(spelled)))
    out: list[Finding] = []
    for t in templates if sets else []:
        found = []
        for name in sorted(plain_references(t.text), key=str.casefold):
            ref = OUTPUT_REF.match(name)
            if ref is None or ref.group("step").casefold() not in sets:
                continue
            step, names, spelled = sets[ref.group("step").casefold()]
            output = ref.group("name")
            if output.casefold() in names or output.casefold() == "package.installationdirectorypath":
                continue
            at = t.text.casefold().find(name.casefold())
            line, column = t.position(at) if at >= 0 else (None, None)
            near = closest(output, spelled, n=3, cutoff=0.6)
            what = f"it sets {', '.join(repr(n) for n in spelled)}" if spelled else "it sets no output"
            found.append(Finding(WARNING, "output_never_set", f"#{{{name}}} reads output {output!r}, which step "
                                 f"{step!r} never sets ({what}): the run that reads it fails in the deploying zone",
                                 t.file, t.path, line, column,
                                 f"did you mean {' or '.join(repr(n) for n in near)}?" if near else
                                 f"set {output!r} in step {step!r} with set_octopusvariable, or read an output it sets"))
        out.extend(hide_secret(t, found))
    return out

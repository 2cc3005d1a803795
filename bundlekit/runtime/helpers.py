"""What a script process is given to read: the Octopus helper functions, its variables, its text.

This module owns the programs a script runs inside and how they reach it: through pipes the
runner writes (memory only), never through a file, the environment or the command line
(``docs/decisions/141-memory-only-secrets.md``). A :class:`Delivery` is the command line
(which holds no value) and the bytes each pipe carries; :mod:`bundlekit.runtime.scripts`
creates the pipes, passes their read ends to the child and writes them from a thread.

* bash: ``bash --noprofile --norc /dev/fd/S``. The first line of what S carries is
  ``. /dev/fd/H || exit 90; exec H<&-; `` followed by the user's first line, so bash's line
  numbers stay the script's own. H carries the helpers, which read every variable from the
  pipe V into an associative array and close V.
* Python: ``python3 -B -c BOOTSTRAP``. The bootstrap (no values in it) reads V and the script
  text from S, makes ``octopus_helpers`` importable and the two helpers builtins, and runs the
  script as ``__main__`` with the file name ``script.py`` (its lines show in tracebacks).

Variables are one line each: base64 of the name folded to lower case, a space, base64 of the
value; two names equal but for case: the last one wins, in both helpers.

Shipped to targets: Python 3.8 or newer, standard library only.
"""

from __future__ import annotations

import base64
from typing import Dict, List, Mapping, NamedTuple

__all__ = ["Delivery", "PIPES", "bash_delivery", "python_delivery", "variables_bytes", "package_script_wrapper"]


class Delivery(NamedTuple):
    """A command line and, per pipe descriptor number, the bytes that pipe carries."""

    command: List[str]
    pipes: Dict[int, bytes]


_BASH_HELPERS = """\
# Helpers bundlekit defines for deployment scripts (sourced before the script runs).
declare -A __bk_vars=()
while IFS=' ' read -r __bk_key __bk_value; do
    __bk_vars["$__bk_key"]="$__bk_value"
done <&{variables}
exec {variables}<&-
unset __bk_key __bk_value

get_octopusvariable() {{
    # Print the value of a variable; names are matched case-insensitively.
    local __bk_want
    [[ -n "${{1-}}" ]] || return 0
    __bk_want=$(printf '%s' "${{1,,}}" | base64 -w0)
    if [[ -n "${{__bk_vars[$__bk_want]+x}}" ]]; then
        printf '%s' "${{__bk_vars[$__bk_want]}}" | base64 -d
    fi
    return 0
}}

set_octopusvariable() {{
    # set_octopusvariable NAME VALUE [-sensitive]: set an output variable of this step.
    local __bk_name __bk_value __bk_sensitive=""
    __bk_name=$(printf '%s' "${{1-}}" | base64 -w0)
    __bk_value=$(printf '%s' "${{2-}}" | base64 -w0)
    if [[ "${{3-}}" == "-sensitive" ]]; then
        __bk_sensitive=" sensitive='$(printf 'True' | base64 -w0)'"
    fi
    printf "##octopus[setVariable name='%s' value='%s'%s]\\n" "$__bk_name" "$__bk_value" "$__bk_sensitive"
}}
"""

_PYTHON_BOOTSTRAP = '''\
import base64 as _b64, builtins, linecache, os, sys, types
def _read(fd):
    with os.fdopen(fd, "rb") as pipe:
        return pipe.read()
def _load(data):
    values = {{}}
    for line in data.splitlines():
        key, _, value = line.strip().partition(b" ")
        values[_b64.b64decode(key).decode("utf-8")] = _b64.b64decode(value).decode("utf-8")
    return values
_values = _load(_read({variables}))
def get_octopusvariable(name):
    """The value of a variable (names are case-insensitive); "" when it is not defined."""
    return _values.get(str(name).lower(), "")
def set_octopusvariable(name, value, sensitive=False):
    """Set an output variable of this step (printed as an Octopus service message)."""
    def enc(text):
        return _b64.b64encode(str(text).encode("utf-8")).decode("ascii")
    message = "##octopus[setVariable name='%s' value='%s'" % (enc(name), enc(value))
    if sensitive:
        message += " sensitive='%s'" % enc("True")
    sys.stdout.write(message + "]\\n")
    sys.stdout.flush()
_helpers = types.ModuleType("octopus_helpers")
_helpers.get_octopusvariable, _helpers.set_octopusvariable = get_octopusvariable, set_octopusvariable
_helpers.__all__ = ["get_octopusvariable", "set_octopusvariable"]
sys.modules["octopus_helpers"] = _helpers
builtins.get_octopusvariable, builtins.set_octopusvariable = get_octopusvariable, set_octopusvariable
_source = _read({script}).decode("utf-8")
linecache.cache["script.py"] = (len(_source), None, _source.splitlines(True), "script.py")
sys.argv = ["script.py"]
sys.path[0] = os.getcwd()
_main = types.ModuleType("__main__")
_main.__file__ = "script.py"
_main.__builtins__ = builtins
sys.modules["__main__"] = _main
del _read, _load, _helpers
exec(compile(_source, "script.py", "exec", dont_inherit=True), _main.__dict__)
'''


def variables_bytes(variables: Mapping[str, str]) -> bytes:
    """The variables pipe's content: ``b64(lower(name)) b64(value)`` per line."""
    folded = {str(name).lower(): str(value) for name, value in variables.items()}
    return b"".join(
        base64.b64encode(name.encode("utf-8")) + b" " + base64.b64encode(value.encode("utf-8")) + b"\n"
        for name, value in folded.items()
    )


#: The pipes each syntax needs, by role.
PIPES = {"bash": ("script", "helpers", "variables"), "python": ("script", "variables")}


def bash_delivery(bash: str, script: str, variables: Mapping[str, str], fds: Mapping[str, int]) -> Delivery:
    """The delivery of a bash script (``bash``: the interpreter's path; ``fds``: role -> pipe number)."""
    prefix = ". /dev/fd/%d || exit 90; exec %d<&-; " % (fds["helpers"], fds["helpers"])
    return Delivery(
        [bash, "--noprofile", "--norc", "/dev/fd/%d" % fds["script"]],
        {fds["script"]: prefix.encode("ascii") + script.encode("utf-8"),
         fds["helpers"]: _BASH_HELPERS.format(variables=fds["variables"]).encode("utf-8"),
         fds["variables"]: variables_bytes(variables)},
    )


def python_delivery(python: str, script: str, variables: Mapping[str, str], fds: Mapping[str, int]) -> Delivery:
    """The delivery of a Python script (``python``: the interpreter's path; ``fds``: role -> pipe number)."""
    bootstrap = _PYTHON_BOOTSTRAP.format(variables=fds["variables"], script=fds["script"])
    return Delivery(
        [python, "-B", "-c", bootstrap],
        {fds["script"]: script.encode("utf-8"), fds["variables"]: variables_bytes(variables)},
    )


def package_script_wrapper(syntax: str, name: str, folder: str) -> str:
    """A script that runs a package's own script ``name`` inside ``folder``.

    bash sources it (so it keeps the helper functions); Python runs it with ``runpy``.
    """
    if syntax == "bash":
        quoted_folder = "'" + folder.replace("'", "'\\''") + "'"
        quoted_name = "'" + name.replace("'", "'\\''") + "'"
        return "cd -- %s || exit 1\n. ./%s\n" % (quoted_folder, quoted_name)
    return (
        "import os, runpy, sys\n"
        "os.chdir(%r)\n"
        "sys.path.insert(0, os.getcwd())\n"
        "sys.argv = [%r]\n"
        "runpy.run_path(%r, run_name='__main__')\n" % (folder, name, name)
    )

"""Where a value the operator enters comes from, so a secret never has to be on the command line.

``variables set PROJECT NAME [VALUE|-] [--from-file PATH]`` takes its value from exactly one
of (``docs/decisions/540-secret-entry.md``):

- ``--from-file PATH``: the file's bytes, read bounded, as UTF-8;
- VALUE omitted or ``-`` with standard input a terminal: a prompt that does not echo
  (:func:`getpass.getpass`, on the controlling terminal);
- VALUE omitted or ``-`` otherwise: standard input, read whole (bounded);
- VALUE itself, for values that are no secret.

From a file or standard input one trailing line break (``\\n`` or ``\\r\\n``) is dropped: the
one an editor or ``echo`` adds. An empty result from any of the three sources is refused
(``InputError`` ``value_missing``): it is what a closed or forgotten pipe gives (a job run
with ``< /dev/null``), and storing it would replace a production secret with nothing. An
empty value on purpose is given as VALUE ``""``. The value is never quoted in a message.

Every secret this CLI asks for (a variable's value, the state database's password) is read
through :func:`stdin_is_terminal`, :func:`prompted` and :func:`~bundlekit.cli.common.stdin_bytes`:
standard input closed (``<&-``) reads as empty and a prompt ended with Ctrl-D answers empty, so
each is a coded refusal, never a traceback. A name or path a refusal quotes is shown on one
line (:func:`shown`): a line feed in it cannot start a forged ``error [...]`` line.
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Optional

from bundlekit.cli.common import stdin_text
from bundlekit.core.files import argument_text, read_user_file, strip_line_break
from bundlekit.core.text import terminal_text
from bundlekit.errors import InputError, UsageError

__all__ = ["MAX_VALUE_BYTES", "entered_value", "stdin_is_terminal", "prompted", "shown"]

#: The most a value read from standard input or a file may be (a certificate chain fits many times).
MAX_VALUE_BYTES = 16 * 1024 * 1024


def shown(text: object) -> str:
    """``text`` (a name, a path) as a message quotes it: on one line, every unsafe character,
    line feeds included, shown escaped (``\\x0a``)."""
    return terminal_text(str(text))


def stdin_is_terminal() -> bool:
    """Whether standard input is a terminal (False when the command was started with it closed)."""
    return sys.stdin is not None and sys.stdin.isatty()


def prompted(prompt: str) -> str:
    """What is typed at a prompt that does not echo, on the controlling terminal; ``""`` when the
    input ends instead (Ctrl-D), which the caller refuses as it refuses empty input."""
    try:
        return getpass.getpass(prompt)
    except EOFError:
        return ""


def _missing(where: str, name: str, fix: str) -> InputError:
    return InputError(f"the value of {shown(name)} read from {where} is empty; nothing was changed. {fix}",
                      code="value_missing", details={"source": where})


def entered_value(value: Optional[str], from_file: Optional[Path], *, name: str) -> str:
    """The value for variable ``name`` from VALUE, ``--from-file`` or standard input / a prompt.

    ``value`` is the VALUE argument (None when omitted). Raises ``UsageError`` ``usage`` when
    both VALUE and ``--from-file`` are given; ``InputError`` ``value_missing`` (empty),
    ``not_utf8``, ``input_too_large``, and the file refusals of
    :func:`bundlekit.core.files.read_user_file` (``file_not_found``, ``unreadable``,
    ``not_a_file``) for the file.
    """
    if from_file is not None:
        if value is not None:
            raise UsageError("give VALUE or --from-file, not both; for a secret, use --from-file (or '-' with the "
                             "value on standard input) so it is not on the command line", code="usage")
        what = f"--from-file {shown(from_file)}"
        data = read_user_file(from_file, what=what, limit=MAX_VALUE_BYTES)
        try:
            text = strip_line_break(data.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise InputError(f"{what} is not UTF-8 text (byte {exc.start} is invalid); the value must be UTF-8",
                             code="not_utf8") from None
        if not text:
            raise _missing(what, name, "Write the value into the file, or give VALUE \"\" to set an empty value.")
        return text
    if value is not None and value != "-":
        return argument_text(value, "VALUE")
    if sys.stdin is None:  # started with standard input closed (`<&-`)
        raise _missing("standard input (closed)", name, "Pipe the value in (`... --sensitive < FILE`), or use "
                                                        "--from-file PATH.")
    if stdin_is_terminal():
        text = prompted(f"Value of {shown(name)} (not shown as you type): ")
        if not text:
            raise _missing("the prompt", name, "Type the value at the prompt, or give VALUE \"\" to set an empty "
                                               "value.")
        return argument_text(text, "the value typed")
    text = strip_line_break(stdin_text("the value on standard input", MAX_VALUE_BYTES))
    if not text:
        raise _missing("standard input", name, "Pipe the value in (`... --sensitive < FILE`), use --from-file PATH, "
                                               "run on a terminal to be prompted, or give VALUE \"\" to set an "
                                               "empty value.")
    return text

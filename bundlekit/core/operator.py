"""Who runs this process, as the operating system knows them: the one account name bundlekit records.

bundlekit has no accounts of its own; decisions (a lifecycle waiver) and the audit trail name
the operating system account that ran the command, and the host it ran on.
"""

from __future__ import annotations

import os
import re

__all__ = ["operator_name"]


def operator_name() -> str:
    """Who runs this command, as the operating system knows them (recorded with a decision such
    as a lifecycle waiver; bundlekit has no accounts of its own): the name of the process's real
    user id in the password database, else ``uid N``. Never ``LOGNAME``/``USER``, which any
    caller can set to another name; a name that is not a plain label (control or markup
    characters) is recorded as ``uid N`` too."""
    if not hasattr(os, "getuid"):
        return "unknown"
    uid = os.getuid()
    try:
        import pwd

        name = pwd.getpwuid(uid).pw_name
    except (KeyError, ImportError):
        return f"uid {uid}"
    return name if re.fullmatch(r"[A-Za-z0-9_.][A-Za-z0-9_.@-]{0,63}", name) else f"uid {uid}"

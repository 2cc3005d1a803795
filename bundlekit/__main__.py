"""The ``bundlekit`` command's entry point (the installed script and ``python -m bundlekit``).

It holds SIGINT and SIGTERM before anything else is imported when the command can stop
gracefully on them (``deploy``), so a signal during the seconds the CLI takes to load is acted
on by the command instead of ending it without a word (finding 19.2, decision 461).
"""

import sys

from bundlekit.core.signals import hold

#: Commands that act on SIGINT and SIGTERM themselves (``bundlekit.cli.signals``).
GRACEFUL = ("deploy",)


def main() -> None:
    """Run the command line (``sys.argv``); exits with the command's status."""
    if sys.argv[1:2] and sys.argv[1] in GRACEFUL:
        hold()
    from bundlekit.cli import main as cli_main  # seconds on a loaded machine: the signals are held meanwhile

    cli_main()


if __name__ == "__main__":
    main()

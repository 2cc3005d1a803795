"""Allows ``python -m bundlekit``."""

from bundlekit.cli import main

if __name__ == "__main__":
    main()

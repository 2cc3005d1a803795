"""bundlekit: signed, sealed release bundles across air gaps, with signed receipts back.

The public API is small on purpose; most users drive bundlekit through its CLI
(``bundlekit --help``). Layers, from the bottom up: ``format`` (pure bytes <-> models),
``trust`` (pure policy), ``zone`` (a zone's home: keys, SQLite state, package store),
workflows (``export``, ``importer``, ``deploy``, ``receipt``, ``dashboard``),
``transport`` (media volumes, diode) and ``cli``.
"""

from bundlekit.errors import BundleError

__version__ = "0.8.0"
__all__ = ["BundleError", "__version__"]

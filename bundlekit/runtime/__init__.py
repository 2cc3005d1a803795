"""The step runner: what executes a deployment step on a target (the Calamari of bundlekit).

The zone decides; this package executes. It is packed, with the layers it needs
(``substitution``, ``package``, ``core``, ``errors``), into one content-addressed zipapp
(:mod:`bundlekit.runtime.pack`) that the zone starts on every target, local or SSH, and talks
to over stdin/stdout in the framed protocol of :mod:`bundlekit.runtime.protocol`
(``spec/runner.md``). It imports nothing from ``zone``, ``cli`` or the workflows, and it runs on
Python 3.8 or newer (``tests/runtime/test_shipped.py`` checks both).
"""

"""The bottom layer: one implementation of each safety primitive bundlekit relies on.

- :mod:`bundlekit.core.names`: the one validator for names (tokens) and relative paths that
  come from outside (release files, bundles, archives, cards, key files, the command line);
- :mod:`bundlekit.core.atomic`: the one atomic, streaming file writer;
- :mod:`bundlekit.core.text`: the one sanitizer for untrusted text shown on a terminal, in
  HTML or in JSON, and the one mask shown in place of a sensitive value;
- :mod:`bundlekit.core.clock`: the one type for "now" (whole epoch seconds) and the one place
  the wall clock is read;
- :mod:`bundlekit.core.files`: the one bounded reader of a whole file a user names (a card, a
  key file, a release file, a template).

This package imports nothing of bundlekit but :mod:`bundlekit.errors`, and is written for
Python 3.8 and later, so the step runtime that is shipped to remote targets can carry it
(``tests/core/test_layering.py`` checks both).
"""

"""Retention: which releases a zone keeps (``rules``, pure) and prune, which removes the rest (``prune``)."""

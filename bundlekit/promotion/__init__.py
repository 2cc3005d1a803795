"""Promotion: a release moving through its lifecycle's phases, across zones.

``lifecycle.py`` holds the rules (pure): which phases a release has passed, given the
successful deployments counted for it, and whether an environment is open to it.
``gate.py`` applies them in a zone: it gathers the evidence (the zone's own deployments,
receipts and attestations from other zones, waivers) and refuses a deployment the lifecycle
does not allow yet (``lifecycle_violation``).
"""

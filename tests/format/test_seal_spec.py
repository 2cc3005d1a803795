"""The sealing examples spec/bundle-format.md §8 gives a second implementation hold byte for byte."""

from __future__ import annotations

from bundlekit.format.crypto import seal_ad, seal_label
from bundlekit.receipt.build import output_seal_ad


def test_a_scoped_label_orders_dimensions_and_values_by_their_bytes_and_keeps_their_case() -> None:
    scope = {"role": ["db"], "environment": ["Production", "Test"]}
    assert seal_label("variable", "Db.Password", scope) == "variable:db.password|environment=Production,Test;role=db"
    assert seal_label("variable", "Db.Password", {}) == "variable:db.password|"


def test_names_are_lowercased_with_unicode_rules_not_ascii_ones() -> None:
    assert seal_label("variable", "Größe", {}) == "variable:größe|"
    assert seal_label("variable", "İ", {}) == "variable:i\u0307|"


def test_the_associated_data_is_length_prefixed_text() -> None:
    ad = seal_ad("ab" * 16, "cd" * 16, "variable:x|")
    lp = lambda b: len(b).to_bytes(4, "big") + b  # noqa: E731
    assert ad == lp(b"bundlekit/1 seal ad") + lp(b"ab" * 16) + lp(b"cd" * 16) + lp(b"variable:x|")


def test_an_output_of_a_run_without_target_has_an_empty_target_in_its_label() -> None:
    assert output_seal_ad("Deployments-1", "cd" * 16, "Migrate", None, "Token") == seal_ad(
        "deployment:Deployments-1", "cd" * 16, "output:migrate//token|")

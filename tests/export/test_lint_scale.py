"""Lint stays linear in the size of the release: the release file's table headers are read once.

No timing here (``bench/bench_lint.py`` prints the time per variable at 4000 and 500
variables); these count the work that made lint quadratic: one pass of the header parser,
and one of the line counter, per text, however many variables and findings there are.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bundlekit.export import lint_model
from bundlekit.export.lint import lint_release


def _release(tmp_path: Path, variables: int, broken: bool = False) -> Path:
    parts = [f'[project]\nname = "Scale {variables} {broken}"\n\n[release]\nversion = "1.0.0"\n\n[[steps]]\n'
             f'name = "Run"\ntype = "script"\nsyntax = "bash"\nroles = ["app"]\nscript = "echo #{{V.{variables - 1}}}"\n']
    for i in range(variables):
        ref = f"#{{Nope.{i}}}" if broken else (f"#{{V.{i - 1}}}" if i % 10 else "v")  # chains of 10 values
        parts.append(f'\n[[variables]]\nname = "V.{i}"\nvalue = "{ref}-{i}"\n')
    path = tmp_path / f"release-{variables}-{broken}.toml"
    path.write_text("".join(parts))
    return path


@pytest.mark.parametrize("broken", [False, True], ids=["clean", "a-finding-per-variable"])
def test_the_header_parser_and_line_counter_run_once_per_file_whatever_the_number_of_variables(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, broken: bool) -> None:
    calls = {"headers": 0, "lines": 0}
    headers, lines = lint_model._headers, lint_model._line_starts.__wrapped__

    def counted_headers(text: str) -> list[tuple[int, str, bool]]:
        calls["headers"] += 1
        return headers(text)

    def counted_lines(text: str) -> list[int]:
        calls["lines"] += 1
        return lines(text)

    monkeypatch.setattr(lint_model, "_headers", counted_headers)
    monkeypatch.setattr(lint_model, "_line_starts", lint_model.lru_cache(maxsize=4)(counted_lines))
    lint_model.toml_index.cache_clear()
    for n in (5, 300):
        calls.update(headers=0, lines=0)
        path = _release(tmp_path, n, broken)
        report = lint_release(path)
        assert len(report.errors) == (n if broken else 0)
        assert calls["headers"] == 1, calls  # before: one pass over the whole file per variable
        assert calls["lines"] <= 1, calls  # before: one count from the file's start per finding
    if broken:  # placed right, all the same
        lines = path.read_text().splitlines()
        assert [(f.line, f.column) for f in report.errors[-2:]] == [
            (lines.index(f'value = "#{{Nope.{i}}}-{i}"') + 1, 12) for i in (298, 299)]

"""A compare variant (``configs/variants/*.yaml``) that cannot be read stops compare with one line naming the file
and line, before any run starts (it used to end in a traceback)."""
from __future__ import annotations

import pytest

from hgclip.cli import compare, grid
from hgclip.common.config_io import config_file_options
from hgclip.common.errors import InputError


def test_variant_options_are_key_value_pairs(tmp_path):
    path = tmp_path / "V.yaml"
    path.write_text("LOSS:\n  PROTECT:\n    ENABLED: True\n    DROP_RATE: 0.1\n")
    assert config_file_options(str(path)) == ["LOSS.PROTECT.ENABLED", "True", "LOSS.PROTECT.DROP_RATE", "0.1"]


@pytest.mark.parametrize("text, where", [
    ("LOSS:\n  PROTECT:\n    ENABLED: [True\n", r"Broken\.yaml:4: YAML syntax error: expected ',' or '\]'"),
    ("LOSS:\n  A: 1\n  A: 2\n", r"Broken\.yaml:3: key 'A' is given twice"),
    ("- a\n- b\n", r"Broken\.yaml: expected a YAML mapping of config keys, got a list"),
])
def test_a_broken_variant_is_one_line_naming_file_and_line(tmp_path, text, where):
    (tmp_path / "Broken.yaml").write_text(text)
    with pytest.raises(InputError) as error:
        config_file_options(str(tmp_path / "Broken.yaml"))
    message = str(error.value)
    assert "\n" not in message
    assert __import__("re").search(where, message), message


def test_compare_with_a_broken_variant_stops_without_a_traceback(tmp_path, monkeypatch, capsys):
    variants = tmp_path / "variants"
    variants.mkdir()
    (variants / "Broken.yaml").write_text("LOSS:\n  PROTECT:\n    ENABLED: [True\n")
    monkeypatch.setattr(grid, "VARIANT_DIR", str(variants))
    with pytest.raises(SystemExit) as error:  # not the InputError (a traceback) it was
        compare.main(["--output", str(tmp_path / "out"), "--root", str(tmp_path / "data"), "hiershapes", "CoOp+Broken",
                      "1", "--", "MODEL.BACKBONE.NAME", "tiny-random"])
    assert str(error.value).startswith(f"{variants / 'Broken.yaml'}:4: YAML syntax error") and error.value.code == 2
    assert "Traceback" not in capsys.readouterr().out
    assert compare.console(["--output", str(tmp_path / "out"), "hiershapes", "CoOp+Broken", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {variants / 'Broken.yaml'}:4: YAML syntax error") and err.count("\n") == 1

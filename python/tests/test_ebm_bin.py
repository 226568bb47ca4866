"""The tests find the `ebm` binary where cargo builds it: $EBM_BIN first, then release/ of
$CARGO_TARGET_DIR (relative to the current directory, as cargo reads it), then the
repository's target/release."""

from __future__ import annotations

from conftest import PYTHON_DIR, cargo_target_dir


def test_cargo_target_dir_is_read_as_cargo_reads_it(monkeypatch, tmp_path):
    monkeypatch.delenv("CARGO_TARGET_DIR", raising=False)
    assert cargo_target_dir() == PYTHON_DIR.parent / "target"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CARGO_TARGET_DIR", "built")
    assert cargo_target_dir() == tmp_path / "built"
    monkeypatch.setenv("CARGO_TARGET_DIR", str(tmp_path / "elsewhere"))
    assert cargo_target_dir() == tmp_path / "elsewhere"
    monkeypatch.setenv("CARGO_TARGET_DIR", "")
    assert cargo_target_dir() == PYTHON_DIR.parent / "target"

"""``finchain bench crypto --quick --json`` writes every required key (slow: about a minute)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from finchain.cli.main import app

REQUIRED = (
    "sm2_sign_per_s",
    "sm2_verify_per_s",
    "sm2_verify_per_s_all_cores",
    "sm3_mb_per_s",
    "sm4_gcm_mb_per_s",
    "merkle_10k_ms",
    "intl_verify_per_s",
    "sm2_verify_overhead_ratio",
)


@pytest.mark.slow
def test_bench_crypto_quick_json(tmp_path: Path) -> None:
    out = tmp_path / "crypto.json"
    result = CliRunner().invoke(app, ["bench", "crypto", "--quick", "--json", str(out)])
    assert result.exit_code == 0, result.output
    figures = json.loads(out.read_text())
    for key in REQUIRED:
        assert isinstance(figures[key], int | float) and figures[key] > 0, key

"""The package's types hold for its users: ``mypy --strict`` on typical user code passes."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

USER_CODE = Path(__file__).parent / "typed" / "user_code.py"


def test_typical_user_code_passes_mypy_strict():
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(USER_CODE)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success" in result.stdout

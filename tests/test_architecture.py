"""The package layering holds: the import contracts in ``pyproject.toml`` ([tool.importlinter]) pass.

The contracts (see docs/architecture.md, "Layers") say that packages depend downwards only, that
only the entry points import the composition root ``samtale.services``, and that no two top-level
packages import each other. ``lint-imports`` checks the same in ``make lint`` and CI; running it
here makes a cycle fail the suite too, with import-linter's report (which import breaks which
contract) as the failure message.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

LINT_IMPORTS = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"


def test_the_import_contracts_are_kept() -> None:
    # PYTHONPATH puts this checkout first, so the graph is built from the code under test even
    # when the installed (editable) samtale points at another checkout.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run(
        [sys.executable, "-c", LINT_IMPORTS, "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, f"lint-imports found broken import contracts:\n{report}"
    assert "0 broken" in report, report

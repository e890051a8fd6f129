"""The README's configuration reference is generated from the option models; it must be current."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import REPO


def test_readme_options_reference_is_up_to_date() -> None:
    expected = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "options_reference.py")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    readme = (REPO / "README.md").read_text()
    start = readme.index("<!-- options-reference:start -->\n") + len(
        "<!-- options-reference:start -->\n"
    )
    end = readme.index("<!-- options-reference:end -->")
    assert readme[start:end] == expected, "run: python scripts/options_reference.py --write"


def test_readme_starts_with_the_two_commands() -> None:
    readme = (REPO / "README.md").read_text()
    first_block = readme.split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [line for line in first_block.splitlines() if line and not line.startswith("#")]
    assert commands[0].startswith("python3 -m venv .venv && .venv/bin/pip install -e")
    assert commands[0].endswith(".venv/bin/unifydb check")
    assert commands[1] == "scripts/test.sh"
    assert "scripts/test.sh" in (REPO / ".ci" / "run").read_text()

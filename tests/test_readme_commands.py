"""The README's first two commands are the contract with a new user and with CI: keep them true."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _readme_commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)\n```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S)
    return [b.strip() for b in blocks[:2]]


def test_ci_runs_exactly_the_readme_test_command():
    main_job, test_command = _readme_commands()
    lines = (ROOT / ".ci/run").read_text().splitlines()
    ci_lines = [ln for ln in lines if ln and not ln.startswith(("#", "set ", "cd "))]
    assert ci_lines == [test_command]


def test_main_job_sets_up_the_tool_only_and_tests_add_the_dev_tools():
    main_job, test_command = _readme_commands()
    assert main_job.startswith("bash scripts/setup.sh &&") and "--dev" not in main_job
    assert test_command.startswith("bash scripts/setup.sh --dev &&") and "pytest" in test_command

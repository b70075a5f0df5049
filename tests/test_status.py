"""Exit codes and statuses live in one place (scanner/status.py); the README's tables say the same."""
from __future__ import annotations

import re
from pathlib import Path

from scanner.status import REVOKE_EXIT, VERIFY_EXIT, ExitCode, RevokeStatus, VerifyStatus
from tests.conftest import run_cli as cli

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def _table_after(marker: str, header: str) -> list[list[str]]:
    """The rows (cells, stripped) of the first table with `header` after `marker` in the README."""
    section = README.split(marker, 1)[1]
    table = section.split(header, 1)[1].split("\n\n", 1)[0]
    return [[c.strip() for c in row.strip().strip("|").split("|")] for row in table.strip().splitlines()[1:]]


def test_readme_exit_code_table_is_the_enum() -> None:
    rows = _table_after("### Exit codes", "| code | meaning |")
    assert [int(r[0]) for r in rows] == sorted(int(c) for c in ExitCode)


def test_help_lists_every_exit_code() -> None:
    out = cli("--help").out
    listed = {int(m) for m in re.findall(r"^\s+(\d+)\s", out.split("Exit codes:", 1)[1], re.M)}
    listed |= {int(m) for m in re.findall(r"; (\d+): terminated", out)}
    assert listed == {int(c) for c in ExitCode}


def test_readme_verify_and_revoke_tables_are_the_status_tables() -> None:
    verify = {r[0].strip("`"): int(r[2]) for r in _table_after("### `cexguard verify`", "| `status` | meaning | exit |")
              if r[0].startswith("`")}
    assert verify == {s: int(c) for s, c in VERIFY_EXIT.items()}
    revoke = {r[0].strip("`"): int(r[2]) for r in _table_after("### `cexguard revoke`", "| `status` | meaning | exit |")
              if r[0].startswith("`")}
    assert revoke == {s: int(c) for s, c in REVOKE_EXIT.items()}
    assert set(REVOKE_EXIT) == {s.value for s in RevokeStatus} and set(VERIFY_EXIT) == {s.value for s in VerifyStatus}
    assert VERIFY_EXIT["not_verifiable"] == ExitCode.NO_VERDICT


def test_commands_exit_with_the_enum(tmp_path: Path) -> None:
    assert cli("scan", str(tmp_path)).code == ExitCode.OK
    assert cli("scan", str(tmp_path / "missing")).code == ExitCode.ERROR

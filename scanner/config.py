"""Load `[tool.cexguard]` (pyproject.toml) or `.cexguard.toml` into a frozen Config.

Nothing in here can change where verify/revoke traffic goes: a scanned repository's config is
untrusted input, so keys such as `api_url` are refused, not ignored.
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from scanner.errors import CexguardError

DEFAULT_MAX_FILE_SIZE = 100 * 1024 * 1024
CONFIG_FILE = ".cexguard.toml"
IGNORE_FILE = ".cexguardignore"

_KNOWN = {"exclude", "rules_dirs", "max_file_size", "min_entropy", "include_examples", "ignore_file"}
_FORBIDDEN = {"api_url", "base_url", "api-url", "endpoint", "proxy"}


@dataclass(frozen=True)
class Config:
    root: Path = Path(".")
    exclude: tuple[str, ...] = ()
    rules_dirs: tuple[Path, ...] = ()
    max_file_size: int = DEFAULT_MAX_FILE_SIZE
    min_entropy: float | None = None
    include_examples: bool = False
    ignore_file: Path | None = None
    source: str | None = None  # where the config came from, for messages
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def with_(self, **changes: Any) -> Config:
        return replace(self, **changes)


def parse_size(value: Any, *, where: str = "max_file_size") -> int:
    if isinstance(value, bool):
        raise CexguardError(f"{where}: expected a size such as 10MB, got {value!r}")
    if isinstance(value, int):
        if value <= 0:
            raise CexguardError(f"{where}: must be positive, got {value}")
        return value
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmMgG]i?[bB]?|[bB])?\s*", str(value))
    if not m:
        raise CexguardError(f"{where}: expected a size such as 10MB, got {value!r}")
    unit = (m.group(2) or "b").lower().rstrip("b").rstrip("i")
    mult = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit]
    n = int(float(m.group(1)) * mult)
    if n <= 0:
        raise CexguardError(f"{where}: must be positive, got {value!r}")
    return n


def _toml_load(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except OSError as e:
        raise CexguardError(f"cannot read config {path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise CexguardError(f"bad config {path}: {e}") from None


def _from_table(table: Any, *, root: Path, source: str) -> Config:
    if not isinstance(table, dict):
        raise CexguardError(f"bad config {source}: [tool.cexguard] must be a table")
    for key in table:
        if key in _FORBIDDEN:
            raise CexguardError(
                f"bad config {source}: '{key}' is not allowed in a repository's config "
                "(use --api-url or CEXGUARD_API_URL)"
            )
        if key not in _KNOWN:
            raise CexguardError(f"bad config {source}: unknown key '{key}' (known: {', '.join(sorted(_KNOWN))})")
    cfg = Config(root=root, source=source)
    if "exclude" in table:
        ex = table["exclude"]
        if not isinstance(ex, list) or not all(isinstance(x, str) for x in ex):
            raise CexguardError(f"bad config {source}: exclude must be a list of glob strings")
        cfg = cfg.with_(exclude=tuple(ex))
    if "rules_dirs" in table:
        rd = table["rules_dirs"]
        if not isinstance(rd, list) or not all(isinstance(x, str) for x in rd):
            raise CexguardError(f"bad config {source}: rules_dirs must be a list of folder paths")
        cfg = cfg.with_(rules_dirs=tuple((root / x) for x in rd))
    if "max_file_size" in table:
        cfg = cfg.with_(max_file_size=parse_size(table["max_file_size"], where=f"{source}: max_file_size"))
    if "min_entropy" in table:
        me = table["min_entropy"]
        if isinstance(me, bool) or not isinstance(me, (int, float)) or not 0 <= me <= 6:
            raise CexguardError(f"bad config {source}: min_entropy must be a number between 0 and 6")
        cfg = cfg.with_(min_entropy=float(me))
    if "include_examples" in table:
        if not isinstance(table["include_examples"], bool):
            raise CexguardError(f"bad config {source}: include_examples must be true or false")
        cfg = cfg.with_(include_examples=table["include_examples"])
    if "ignore_file" in table:
        if not isinstance(table["ignore_file"], str):
            raise CexguardError(f"bad config {source}: ignore_file must be a path")
        cfg = cfg.with_(ignore_file=root / table["ignore_file"])
    return cfg


def load_config(root: Path, explicit: Path | None = None) -> Config:
    """Config for a scan rooted at `root`: --config FILE, else .cexguard.toml, else pyproject.toml."""
    root = Path(root)
    if explicit is not None:
        explicit = Path(explicit)
        if not explicit.is_file():
            raise CexguardError(f"config file not found: {explicit}")
        data = _toml_load(explicit)
        table = data.get("tool", {}).get("cexguard", {}) if explicit.name == "pyproject.toml" else data
        if explicit.name != "pyproject.toml" and "tool" in data and "cexguard" in data.get("tool", {}):
            table = data["tool"]["cexguard"]
        return _from_table(table, root=explicit.parent.resolve(), source=str(explicit))
    base = root if root.is_dir() else root.parent
    own = base / CONFIG_FILE
    if own.is_file():
        data = _toml_load(own)
        table = data["tool"]["cexguard"] if "tool" in data and isinstance(data["tool"], dict) and "cexguard" in data["tool"] else data
        return _from_table(table, root=base, source=str(own))
    py = base / "pyproject.toml"
    if py.is_file():
        data = _toml_load(py)
        tool = data.get("tool", {})
        if isinstance(tool, dict) and "cexguard" in tool:
            return _from_table(tool["cexguard"], root=base, source=f"{py} [tool.cexguard]")
    return Config(root=base)

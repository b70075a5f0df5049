"""cexguard: find, verify and revoke leaked Binance API credentials."""
from __future__ import annotations

__version__ = "0.1.0"

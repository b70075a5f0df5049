"""The remote layer: a Binance REST client (signing, base-URL policy, retries, errors), `verify` and
`revoke`. It imports the findings model and nothing of the engine; only the CLI wires them together.

Nothing here is imported by a plain `cexguard scan`: the HTTP and crypto libraries load only when a
command or `--verify` needs them.
"""
from __future__ import annotations

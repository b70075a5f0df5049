"""Exchanges cexguard finds keys for but does not call: `not_verifiable` (nothing is sent) and
`not_revocable` with the exchange's own playbook."""
from __future__ import annotations

from typing import Any

from scanner.remote.exchanges import ExchangeCredentials, manual_playbook
from scanner.remote.exchanges.base import Base
from scanner.remote.model import Verdict

# name -> (title, where its API keys are managed, needs a passphrase)
MANUAL: dict[str, tuple[str, str, bool]] = {
    "bitget": ("Bitget", "Profile -> API Key Management", True),
    "gate": ("Gate", "Account -> API Management (APIv4 keys)", False),
    "mexc": ("MEXC", "Profile -> API Management", False),
    "htx": ("HTX (Huobi)", "Account -> API Management", False),
}


class Manual(Base):
    production_url = ""

    def __init__(self, name: str) -> None:
        self.name = name
        self.title, self.management_page, self.needs_passphrase = MANUAL[name]

    def transport(self, base_url: str, *, timeout: float) -> Any:
        return _NoTransport(base_url or "(none)")

    def verify(self, credentials: ExchangeCredentials, transport: Any) -> Verdict:
        return Verdict(status="not_verifiable", exchange=self.name, key_fingerprint=credentials.fingerprint,
                       key_redacted=credentials.redacted, api_url=transport.base_url, signature=None,
                       reasons=(f"cexguard has no verifier for {self.title} keys yet: nothing was sent; treat the "
                                "key as live and delete it",))

    def playbook(self, key_redacted: str) -> list[str]:
        return manual_playbook(self.title, self.management_page)


class _NoTransport:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.calls = 0


def exchange(name: str) -> Manual:
    return Manual(name)

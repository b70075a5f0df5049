"""What the exchange modules share: turning an answer into a verdict (the exchange's credential
codes -> statuses, everything else `unknown`), one clock resynchronisation on a timestamp error,
and `not_revocable` with the exchange's own playbook where its API cannot delete a key."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from scanner.errors import CexguardError
from scanner.remote.errors import ApiError, AuthError, RemoteError, Unavailable
from scanner.remote.exchanges import ExchangeCredentials, manual_playbook
from scanner.remote.model import Permissions, Verdict, assess
from scanner.remote.transport import Dialect, HttpTransport

# code -> (status, machine-readable causes, what a person should read)
Rejections = Mapping[Any, tuple[str, tuple[str, ...], tuple[str, ...]]]

DELETED = ("deleted", ("deleted",), ("the exchange does not know this API key: deleted, expired or never existed",))
WRONG_SECRET = ("wrong_secret", ("wrong_secret",),
                ("the signature was rejected: the secret does not belong to this API key; the key itself may still "
                 "be live with its real secret",))
WRONG_PASSPHRASE = ("wrong_secret", ("wrong_passphrase",),
                    ("the passphrase was rejected: it does not belong to this API key; the key itself may be live",))
IP_RESTRICTED = ("live_ip_restricted", ("ip_restricted_elsewhere",),
                 ("the key exists and is IP-restricted: this machine's address is not on its whitelist, and it "
                  "works from the whitelisted addresses (the exchange checks the whitelist before it tells whether "
                  "the secret is right, so the secret is not proven here)",))
NO_PERMISSION = ("rejected", ("no_permission",), ("the key lacks the permission this call needs",))


class Base:
    name = "?"
    title = "?"
    production_url = ""
    needs_passphrase = False
    management_page = "API Management"
    verify_endpoint = ""
    signature = "hmac-sha256"
    dialect: Dialect
    rejections: Rejections = {}
    time_codes: frozenset[Any] = frozenset()

    # -- the interface
    def transport(self, base_url: str, *, timeout: float) -> HttpTransport:
        return HttpTransport(base_url, dialect=self.dialect, timeout=timeout)

    def playbook(self, key_redacted: str) -> list[str]:
        return manual_playbook(self.title, self.management_page)

    def verify(self, credentials: ExchangeCredentials, transport: HttpTransport) -> Verdict:
        """One signed read-only call. Raises only CexguardError for setup problems (bad secret format,
        no connection at all); every answer becomes a status."""
        if credentials.secret is None:
            raise CexguardError(f"verifying a {self.title} key needs its secret")
        if self.needs_passphrase and credentials.passphrase is None:
            raise CexguardError(f"verifying a {self.title} key needs its passphrase")
        base = self.base(credentials, transport)
        try:
            data = self.call(transport, self.read_call, credentials)
            raw, perms, created, account = self.read(data, credentials)
        except AuthError as e:
            status, causes, reasons = self.rejections.get(
                e.code, ("rejected", ("rejected",), (f"{self.title} rejected the credentials",)))
            return Verdict(status=status, causes=causes, reasons=reasons, error=e.to_dict(), **base)
        except (ApiError, Unavailable) as e:
            return Verdict(status="unknown", error=e.to_dict(),
                           reasons=(f"no verdict: {e}", "the key may be live or dead; try again later"), **base)
        risk, why = assess(perms)
        return Verdict(status="live", permissions=raw, normalized=perms, risk=risk, risk_reasons=tuple(why),
                       created_at=created, account=account, reasons=("a signed call with this key succeeded",),
                       **base)

    def revoke(self, *, leaked: ExchangeCredentials, master: ExchangeCredentials | None, transport: HttpTransport,
               execute: bool, quarantine_ips: list[str], audit: Any) -> Any:
        """No API to delete this exchange's key: `not_revocable` with the playbook; nothing is sent."""
        result = self.result(leaked, master, transport, execute, audit)
        result.status = "not_revocable"
        result.message = (f"{self.title}'s API cannot delete this key (or cexguard does not use such an endpoint): "
                          "delete it by hand")
        result.playbook = self.playbook(leaked.redacted)
        return result

    # -- helpers
    def base(self, credentials: ExchangeCredentials, transport: HttpTransport) -> dict[str, Any]:
        return {"exchange": self.name, "key_fingerprint": credentials.fingerprint,
                "key_redacted": credentials.redacted, "api_url": transport.base_url,
                "endpoint": self.verify_endpoint, "signature": self.signature}

    def result(self, leaked: ExchangeCredentials, master: ExchangeCredentials | None, transport: HttpTransport,
               execute: bool, audit: Any) -> Any:
        from scanner.remote.revoke import RevokeResult

        return RevokeResult(status="failed", key_fingerprint=leaked.fingerprint, key_redacted=leaked.redacted,
                            master_fingerprint=master.fingerprint if master else None, api_url=transport.base_url,
                            execute=execute, exchange=self.name,
                            audit_log=str(audit.path) if audit is not None else None)

    def call(self, transport: HttpTransport, fn: Callable[..., Any], *args: Any) -> Any:
        """`fn(transport, *args)`; on the exchange's timestamp error, the clock is set from the
        server's once and the call made again."""
        try:
            return fn(transport, *args)
        except ApiError as e:
            if e.code not in self.time_codes:
                raise
        t0 = transport.clock()
        server_ms = self.server_time(transport)
        transport.set_server_time(server_ms, t0, transport.clock())
        return fn(transport, *args)

    def server_time(self, transport: HttpTransport) -> int:
        raise Unavailable(f"{self.title}: no server time to correct the clock with")

    def read_call(self, transport: HttpTransport, credentials: ExchangeCredentials) -> Any:
        raise NotImplementedError

    def read(self, data: Any, credentials: ExchangeCredentials
             ) -> tuple[dict[str, Any], Permissions, str | None, dict[str, Any] | None]:
        raise NotImplementedError


def scalars(d: Mapping[str, Any]) -> dict[str, Any]:
    """The exchange's own fields worth showing: scalars, and lists/dicts of scalars."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, (bool, int, float, str)) or v is None:
            out[k] = v
        elif isinstance(v, list) and all(isinstance(x, (str, int, float, bool)) for x in v):
            out[k] = list(v)
        elif isinstance(v, dict) and all(isinstance(x, list) for x in v.values()):
            out[k] = {kk: [str(x) for x in vv] for kk, vv in v.items()}
    return out


def audit_and_return(result: Any, audit: Any) -> Any:
    if audit is not None:
        audit.append(result.audit_record())
    return result


__all__ = ["DELETED", "IP_RESTRICTED", "NO_PERMISSION", "WRONG_PASSPHRASE", "WRONG_SECRET", "Base", "RemoteError",
           "scalars"]

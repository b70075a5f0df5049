"""`scan --verify` for the exchanges other than Binance: each distinct key/secret(/passphrase) set a
scan found is verified once, in process, by the verifier its rule names (`verify:`) or its kind's
exchange, and the verdict goes on every member of the set."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from scanner.errors import CexguardError
from scanner.models import Finding, fingerprint_of
from scanner.remote import exchanges
from scanner.remote.errors import Unreachable


def _verifier(f: Finding) -> str | None:
    name = exchanges.verifier_for(f.kind, f.verify or None)
    return name if name in exchanges.REGISTRY else None


def _fp(f: Finding) -> str:
    return f.fingerprint or fingerprint_of(f.secret)


def _unverifiable(reason: str) -> dict[str, Any]:
    return {"status": "unverifiable", "reason": reason}


def verify_exchange_findings(findings: Iterable[Finding], *, api_url: str | None = None,
                             env: Mapping[str, str] | None = None, timeout: float = 10.0) -> list[Finding]:
    from scanner.remote.transport import resolve_base_url

    items = list(findings)
    mine = [f for f in items if _verifier(f)]
    if not mine:
        return items
    linked: dict[str, set[str]] = {}
    by_fp: dict[str, Finding] = {}
    for f in mine:
        by_fp.setdefault(_fp(f), f)
        if f.paired_with:
            linked.setdefault(_fp(f), set()).add(f.paired_with)
            linked.setdefault(f.paired_with, set()).add(_fp(f))

    def role(f: Finding) -> str | None:
        return exchanges.split_kind(f.kind)[1]

    def partner(f: Finding, roles: tuple[str, ...], name: str) -> Finding | None:
        for fp in sorted(linked.get(_fp(f), ())):
            g = by_fp.get(fp)
            if g is not None and role(g) in roles and _verifier(g) == name:
                return g
        return None

    transports: dict[str, Any] = {}
    cache: dict[tuple[str, ...], dict[str, Any]] = {}
    verdicts: dict[str, dict[str, Any]] = {}  # finding fingerprint -> verification

    for key in (f for f in mine if role(f) == "api_key"):
        name = _verifier(key)
        assert name is not None
        ex = exchanges.get(name)
        secret = partner(key, ("secret_key", "private_key"), name)
        passphrase = partner(key, ("passphrase",), name) or (partner(secret, ("passphrase",), name) if secret else None)
        if passphrase is None and ex.needs_passphrase:
            same = [g for g in mine if role(g) == "passphrase" and _verifier(g) == name and g.path == key.path]
            passphrase = same[0] if len(same) == 1 else None
        members = [g for g in (key, secret, passphrase) if g is not None]
        if any(g.example for g in members):
            verdict = _unverifiable("a published documentation example: never sent")
        elif secret is None and ex.production_url:
            verdict = _unverifiable("no secret paired with it in this scan")
        elif passphrase is None and ex.needs_passphrase and ex.production_url:
            verdict = _unverifiable(f"no passphrase paired with it in this scan ({ex.title} keys need one)")
        else:
            ident = (name, *(_fp(g) for g in members))
            if ident not in cache:
                try:
                    creds = exchanges.ExchangeCredentials(key.secret, secret.secret if secret else None,
                                                          passphrase.secret if passphrase else None, label="found")
                    if name not in transports:
                        base = resolve_base_url(api_url, env=env, default=ex.production_url) if ex.production_url else ""
                        transports[name] = ex.transport(base, timeout=timeout)
                    cache[ident] = ex.verify(creds, transports[name]).to_dict()
                except Unreachable:
                    raise
                except CexguardError as e:  # a secret that cannot sign (not base64, not a PEM key, ...)
                    cache[ident] = _unverifiable(str(e))
            verdict = cache[ident]
        for g in members:
            verdicts.setdefault(_fp(g), verdict)

    out = []
    for f in items:
        if not _verifier(f):
            out.append(f)
            continue
        v = verdicts.get(_fp(f))
        if v is None:
            v = _unverifiable("no API key paired with it in this scan" if role(f) != "api_key"
                              else "no secret paired with it in this scan")
        out.append(f.replace(verification=dict(v)))
    return out

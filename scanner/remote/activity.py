"""What a leaked key did while it was exposed: `cexguard activity`.

Read-only calls only, signed with the leaked key itself: its permissions and age
(apiRestrictions), the account's status and balances (apiTradingStatus, account), withdrawals and
deposits in windows under 90 days, universal transfers per type, and, for the symbols the
balances, deposits and withdrawals point to (plus any the user names), orders and fills. Binance
wants a symbol on allOrders/myTrades and at most 24 hours between startTime and endTime, so each
symbol is read newest first (one call up to the window's end; when that call is full, 24-hour
windows backwards, a full window split in halves) until the window's start.

Everything is paced by request weight: a run spends at most `max_weight` IP weight (the documented
weight of each call), and before each call the per-minute weight Binance last reported for that
pool (`X-MBX-USED-WEIGHT-1M`, `X-SAPI-USED-IP-WEIGHT-1M`, `X-SAPI-USED-UID-WEIGHT-1M`) is checked:
a call that would take it over 90% of Binance's limit waits for the next minute. What could not be
read (budget reached, permission missing, an error) is listed, never silently dropped.

Records do not say which API key made them: the timeline is the account's, in the window; events
after the key's first exposure are flagged.
"""
from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from scanner.errors import CexguardError
from scanner.remote.binance import (
    WEIGHT_LIMITS_1M,
    ApiError,
    AuthError,
    Credentials,
    RemoteError,
    Transport,
    Unavailable,
    Unreachable,
)
from scanner.safetext import safe

DAY_MS = 86_400_000
WINDOW_90D = 90 * DAY_MS - 1  # withdrawals/deposits: endTime - startTime must be under 90 days
WINDOW_24H = DAY_MS - 1  # allOrders/myTrades: at most 24 hours
TRANSFER_KEPT_MS = 182 * DAY_MS  # Binance answers universal transfers for the last 6 months only
PAGE_LIMIT = 1000  # withdrawals, deposits, orders, trades
TRANSFER_PAGE = 100
HEADROOM = 0.9  # never take a minute's weight over 90% of Binance's limit
DEFAULT_MAX_WEIGHT = 6000
DEFAULT_MAX_PAUSE = 300.0  # seconds spent waiting for the next minute, in all

# endpoint -> (weight pool, documented weight)
COSTS: dict[str, tuple[str, int]] = {
    "/sapi/v1/account/apiRestrictions": ("sapi_ip", 1),
    "/sapi/v1/account/apiTradingStatus": ("sapi_ip", 1),
    "/api/v3/account": ("api", 20),
    "/sapi/v1/capital/withdraw/history": ("sapi_uid", 18000),
    "/sapi/v1/capital/deposit/hisrec": ("sapi_ip", 1),
    "/sapi/v1/asset/transfer": ("sapi_ip", 1),
    "/api/v3/ticker/price": ("api", 4),
    "/api/v3/allOrders": ("api", 20),
    "/api/v3/myTrades": ("api", 20),
}

# Universal transfer types that need no symbol (the isolated-margin ones need a pair and are not read)
TRANSFER_TYPES = (
    "MAIN_UMFUTURE", "MAIN_CMFUTURE", "MAIN_MARGIN", "UMFUTURE_MAIN", "UMFUTURE_MARGIN", "CMFUTURE_MAIN",
    "CMFUTURE_MARGIN", "MARGIN_MAIN", "MARGIN_UMFUTURE", "MARGIN_CMFUTURE", "MAIN_FUNDING", "FUNDING_MAIN",
    "FUNDING_UMFUTURE", "UMFUTURE_FUNDING", "MARGIN_FUNDING", "FUNDING_MARGIN", "FUNDING_CMFUTURE",
    "CMFUTURE_FUNDING", "MAIN_OPTION", "OPTION_MAIN", "UMFUTURE_OPTION", "OPTION_UMFUTURE", "MARGIN_OPTION",
    "OPTION_MARGIN", "FUNDING_OPTION", "OPTION_FUNDING", "MAIN_PORTFOLIO_MARGIN", "PORTFOLIO_MARGIN_MAIN",
)
QUOTES = ("USDT", "FDUSD", "USDC", "BTC", "ETH", "BNB", "EUR", "TRY", "BRL", "JPY")

WITHDRAW_STATUS = {0: "email sent", 1: "cancelled", 2: "awaiting approval", 3: "rejected", 4: "processing",
                   5: "failure", 6: "completed"}
WITHDRAW_NOT_SENT = {1, 3, 5}
DEPOSIT_STATUS = {0: "pending", 1: "success", 2: "rejected", 6: "credited, cannot withdraw yet",
                  7: "wrong deposit", 8: "waiting for user confirmation"}
DEPOSIT_CREDITED = {1, 6}

Progress = Callable[[str], None]


def iso(ms: int) -> str:
    return _dt.datetime.fromtimestamp(ms / 1000, _dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


class BudgetReached(Exception):
    """No more calls this run: the weight budget is spent, or waiting for the next minute took too long."""


# ------------------------------------------------------------------------------------------ budget

@dataclass
class Budget:
    """The run's IP-weight budget, and Binance's per-minute limits read from its weight headers."""

    transport: Transport
    max_weight: int = DEFAULT_MAX_WEIGHT
    max_pause: float = DEFAULT_MAX_PAUSE
    sleep: Callable[[float], None] | None = None
    progress: Progress | None = None
    spent: dict[str, int] = field(default_factory=lambda: {"api": 0, "sapi_ip": 0, "sapi_uid": 0})
    paused: float = 0.0
    pauses: int = 0
    peak: dict[str, int] = field(default_factory=dict)  # the highest per-minute weight Binance reported
    reached: str | None = None

    @property
    def ip_spent(self) -> int:
        return self.spent["api"] + self.spent["sapi_ip"]

    def take(self, pool: str, cost: int) -> None:
        if self.reached:
            raise BudgetReached(self.reached)
        if pool != "sapi_uid" and self.ip_spent + cost > self.max_weight:
            self.reached = (f"the weight budget of {self.max_weight} is spent ({self.ip_spent} used): "
                            "raise it with --max-weight")
            raise BudgetReached(self.reached)
        limit = int(WEIGHT_LIMITS_1M[pool] * HEADROOM)
        used = self.transport.minute_weight(pool)
        if used + cost > limit:
            wait = 61 - (self.transport.now_ms() // 1000) % 60
            if self.paused + wait > self.max_pause:
                self.reached = (f"Binance reports {used} of its {WEIGHT_LIMITS_1M[pool]} {pool} weight used this "
                                f"minute, and {self.paused:.0f}s were already spent waiting")
                raise BudgetReached(self.reached)
            if self.progress:
                self.progress(f"waiting {wait}s for the next minute: Binance reports {used} {pool} weight used "
                              f"(limit {WEIGHT_LIMITS_1M[pool]}, cexguard stays under {limit})")
            (self.sleep or _real_sleep)(wait)
            self.paused += wait
            self.pauses += 1
        self.spent[pool] += cost

    def pause(self, seconds: float, why: str) -> bool:
        """Wait `seconds` (a 429's Retry-After) if the run's waiting allowance lets it; False if not."""
        if self.paused + seconds > self.max_pause:
            return False
        if self.progress:
            self.progress(f"waiting {seconds:.0f}s: {why}")
        (self.sleep or _real_sleep)(seconds)
        self.paused += seconds
        self.pauses += 1
        return True

    def note(self) -> None:
        for pool in WEIGHT_LIMITS_1M:
            used = self.transport.minute_weight(pool)
            if used > self.peak.get(pool, 0):
                self.peak[pool] = used

    def to_dict(self) -> dict[str, Any]:
        return {"budget": self.max_weight, "spent": self.ip_spent, "spent_by_pool": dict(self.spent),
                "per_minute_limits": dict(WEIGHT_LIMITS_1M), "headroom": HEADROOM,
                "peak_reported_per_minute": dict(self.peak), "pauses": self.pauses,
                "paused_seconds": round(self.paused, 1), "reached": self.reached}


def _real_sleep(seconds: float) -> None:
    import time

    time.sleep(seconds)


# ---------------------------------------------------------------------------------------- results

@dataclass
class ActivityResult:
    key_fingerprint: str
    key_redacted: str
    api_url: str
    since_ms: int
    until_ms: int
    window_source: str
    exposure: dict[str, Any] | None
    generated_at: str
    permissions: dict[str, Any] | None = None
    trading_status: dict[str, Any] | None = None
    account: dict[str, Any] | None = None
    symbols: list[str] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    not_read: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    weight: dict[str, Any] = field(default_factory=dict)
    calls: int = 0

    @property
    def flagged(self) -> list[dict[str, Any]]:
        return [e for e in self.timeline if e.get("after_exposure")]

    @property
    def complete(self) -> bool:
        return not self.not_read

    def to_dict(self) -> dict[str, Any]:
        return {
            "tool": "cexguard", "command": "activity", "generated_at": self.generated_at,
            "key": {"fingerprint": self.key_fingerprint, "redacted": self.key_redacted},
            "api_url": self.api_url,
            "window": {"since": iso(self.since_ms), "until": iso(self.until_ms), "source": self.window_source},
            "exposure": self.exposure,
            "permissions": self.permissions,
            "trading_status": self.trading_status,
            "account": self.account,
            "symbols": list(self.symbols),
            "timeline": self.timeline,
            "summary": {"events": len(self.timeline), "after_exposure": len(self.flagged),
                        "by_kind": _count(e["kind"] for e in self.timeline),
                        "after_exposure_by_kind": _count(e["kind"] for e in self.flagged)},
            "totals": totals(self.timeline),
            "totals_after_exposure": totals(self.flagged),
            "complete": self.complete,
            "not_read": self.not_read,
            "notes": list(self.notes),
            "weight": self.weight,
            "calls": self.calls,
            "read_only": True,
        }


def _count(kinds: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for k in kinds:
        out[k] = out.get(k, 0) + 1
    return out


def _dec(value: Any) -> Decimal:
    try:
        d = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return Decimal(0)
    return d if d.is_finite() else Decimal(0)


def _num(d: Decimal) -> str:
    s = format(d.normalize(), "f") if d else "0"
    return s


def totals(events: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    """Per asset: deposited, withdrawn (withdrawals Binance did not cancel/reject), fees, bought and
    sold (fills; the quote side of a fill counts as spent or received), transferred (between the
    account's own wallets: not in `net`) and `net`."""
    acc: dict[str, dict[str, Decimal]] = {}

    def add(asset: str | None, name: str, amount: Decimal) -> None:
        if not asset or not amount:
            return
        row = acc.setdefault(asset, {k: Decimal(0) for k in
                                     ("deposited", "withdrawn", "fees", "bought", "sold", "transferred", "net")})
        row[name] += amount
        if name in ("deposited", "bought"):
            row["net"] += amount
        elif name in ("withdrawn", "fees", "sold"):
            row["net"] -= amount

    for e in events:
        kind = e.get("kind")
        amount = _dec(e.get("amount"))
        if kind == "deposit" and e.get("counted", True):
            add(e.get("asset"), "deposited", amount)
        elif kind == "withdrawal" and e.get("counted", True):
            add(e.get("asset"), "withdrawn", amount)
            add(e.get("asset"), "fees", _dec(e.get("fee")))
        elif kind == "transfer":
            add(e.get("asset"), "transferred", amount)
        elif kind == "fill":
            base, quote = e.get("base"), e.get("quote")
            quote_qty = _dec(e.get("quote_amount"))
            if e.get("side") == "BUY":
                add(base, "bought", amount)
                add(quote, "sold", quote_qty)
            else:
                add(base, "sold", amount)
                add(quote, "bought", quote_qty)
            add(e.get("fee_asset"), "fees", _dec(e.get("fee")))
    return {a: {k: _num(v) for k, v in row.items()} for a, row in sorted(acc.items())}


# ----------------------------------------------------------------------------------------- reading

class _Skip(Exception):
    """This read gave nothing usable; it is recorded in not_read."""


class _Reader:
    def __init__(self, creds: Credentials, transport: Transport, budget: Budget, result: ActivityResult,
                 progress: Progress | None) -> None:
        self.creds = creds
        self.transport = transport
        self.budget = budget
        self.r = result
        self.progress = progress
        self.sapi = True

    def say(self, message: str) -> None:
        if self.progress:
            self.progress(f"{message} (weight {self.budget.ip_spent}/{self.budget.max_weight})")

    def miss(self, what: str, reason: str, detail: str, since: int | None = None, until: int | None = None) -> None:
        entry: dict[str, Any] = {"what": what, "reason": reason, "detail": detail,
                                 "since": iso(since) if since is not None else None,
                                 "until": iso(until) if until is not None else None}
        last = self.r.not_read[-1] if self.r.not_read else None
        if (last is not None and last["what"] == what and last["reason"] == reason and since is not None
                and last["since"] is not None):  # one entry per read and reason, its windows merged
            lo, hi = min(last["since"], entry["since"]), max(last["until"], entry["until"])
            last["since"], last["until"] = lo, hi
            last["windows"] = last.get("windows", 1) + 1
            return
        self.r.not_read.append(entry)

    def get(self, path: str, params: Mapping[str, Any] | None, what: str, *, signed: bool = True,
            since: int | None = None, until: int | None = None) -> Any:
        """One read call within the budget; failures are recorded and raise _Skip."""
        pool, cost = COSTS[path]
        if path.startswith("/sapi/") and not self.sapi:
            self.miss(what, "unavailable", "this server has no /sapi (e.g. spot testnet)", since, until)
            raise _Skip
        try:
            self.budget.take(pool, cost)
        except BudgetReached as e:
            self.miss(what, "budget", str(e), since, until)
            raise _Skip from None
        retried = False
        while True:
            try:
                self.r.calls += 1
                return self.transport.request("GET", path, params=params,
                                              credentials=self.creds if signed else None, signed=signed)
            except Unreachable:
                raise
            except AuthError as e:
                self.miss(what, "permission", f"Binance refused this read (code {e.code}): the key lacks the "
                          "permission it needs, or it was deleted or IP-restricted meanwhile", since, until)
                raise _Skip from None
            except ApiError as e:
                self.miss(what, "error", str(e), since, until)
                raise _Skip from None
            except Unavailable as e:
                if not retried and e.http_status == 429 and e.retry_after is not None \
                        and self.budget.pause(e.retry_after, f"Binance answered 429 ({e.code}): {e}"):
                    self.transport.clear_block()
                    retried = True
                    continue
                self.miss(what, "unavailable", str(e), since, until)
                raise _Skip from None
            finally:
                self.budget.note()

    # -- steps
    def restrictions(self) -> None:
        path = "/sapi/v1/account/apiRestrictions"
        pool, cost = COSTS[path]
        self.budget.take(pool, cost)
        self.r.calls += 1
        try:
            data = self.transport.request("GET", path, credentials=self.creds, signed=True)
        except AuthError as e:
            raise CexguardError(f"Binance rejects the key (code {e.code}), so its activity cannot be read with it: "
                                "run `cexguard verify` to see why. Any other read-enabled key of the same account "
                                "reads the same history") from None
        except ApiError as e:
            if e.http_status != 404:
                raise CexguardError(f"cannot read the key's permissions: {e}") from None
            self.sapi = False
            self.r.notes.append("this server has no /sapi (e.g. spot testnet): withdrawals, deposits and transfers "
                                "cannot be read")
            return
        except Unavailable as e:
            raise CexguardError(f"no answer about the key, nothing read: {e}") from None
        finally:
            self.budget.note()
        if not isinstance(data, dict) or not isinstance(data.get("enableReading"), bool):
            raise CexguardError(f"GET {path}: not the expected answer, nothing read")
        self.r.permissions = {k: v for k, v in data.items() if isinstance(v, (bool, int, float, str)) or v is None}

    def trading_status(self) -> None:
        try:
            data = self.get("/sapi/v1/account/apiTradingStatus", None, "API trading status")
        except _Skip:
            return
        inner = data.get("data") if isinstance(data, dict) else None
        if isinstance(inner, dict):
            self.r.trading_status = {k: v for k, v in inner.items() if k in ("isLocked", "plannedRecoverTime",
                                                                           "updateTime", "triggerCondition")}

    def account(self) -> None:
        try:
            data = self.get("/api/v3/account", {"omitZeroBalances": True}, "account and balances")
        except _Skip:
            return
        if not isinstance(data, dict):
            self.miss("account and balances", "error", "not a JSON object")
            return
        balances = []
        for b in data.get("balances") or []:
            if isinstance(b, dict) and isinstance(b.get("asset"), str):
                free, locked = _dec(b.get("free")), _dec(b.get("locked"))
                if free or locked:
                    balances.append({"asset": b["asset"], "free": _num(free), "locked": _num(locked)})
        self.r.account = {k: data.get(k) for k in ("uid", "accountType", "canTrade", "canWithdraw", "canDeposit")
                          if k in data}
        self.r.account["balances"] = balances

    def paged_windows(self, path: str, what: str, convert: Callable[[dict[str, Any]], dict[str, Any] | None]) -> None:
        """Withdrawals or deposits: windows under 90 days, newest first, pages of 1000 by offset."""
        hi = self.r.until_ms
        while hi >= self.r.since_ms:
            lo = max(self.r.since_ms, hi - WINDOW_90D)
            self.say(f"reading {what} {iso(lo)} .. {iso(hi)}")
            offset = 0
            while True:
                try:
                    rows = self.get(path, {"startTime": lo, "endTime": hi, "offset": offset, "limit": PAGE_LIMIT},
                                    what, since=lo, until=hi)
                except _Skip:
                    break
                if not isinstance(rows, list):
                    self.miss(what, "error", "not a JSON list", lo, hi)
                    break
                for row in rows:
                    if isinstance(row, dict):
                        event = convert(row)
                        if event is not None:
                            self.add(event)
                if len(rows) < PAGE_LIMIT:
                    break
                offset += len(rows)
            hi = lo - 1

    def transfers(self) -> None:
        what_all = "universal transfers"
        now = self.transport.now_ms()
        kept_from = now - TRANSFER_KEPT_MS
        if self.r.since_ms < kept_from:
            self.miss(what_all, "not_kept", "Binance answers universal transfers for the last 6 months only",
                      self.r.since_ms, min(kept_from, self.r.until_ms))
        start = max(self.r.since_ms, kept_from)
        if start > self.r.until_ms:
            return
        self.say(f"reading {what_all} ({len(TRANSFER_TYPES)} types)")
        for type_ in TRANSFER_TYPES:
            hi = self.r.until_ms
            while hi >= start:
                lo = max(start, hi - WINDOW_90D)
                page = 1
                while True:
                    try:
                        data = self.get("/sapi/v1/asset/transfer", {"type": type_, "startTime": lo, "endTime": hi,
                                                                    "current": page, "size": TRANSFER_PAGE},
                                        f"universal transfers {type_}", since=lo, until=hi)
                    except _Skip:
                        break
                    rows = data.get("rows") if isinstance(data, dict) else None
                    rows = rows if isinstance(rows, list) else []  # Binance leaves `rows` out when there are none
                    for row in rows:
                        if isinstance(row, dict):
                            event = _transfer(row)
                            if event is not None:
                                self.add(event)
                    if len(rows) < TRANSFER_PAGE:
                        break
                    page += 1
                hi = lo - 1
        self.r.notes.append("isolated-margin transfers need a symbol pair and are not read")

    def valid_symbols(self) -> set[str] | None:
        try:
            data = self.get("/api/v3/ticker/price", None, "symbol list (ticker prices)", signed=False)
        except _Skip:
            return None
        if not isinstance(data, list):
            return None
        return {x["symbol"] for x in data if isinstance(x, dict) and isinstance(x.get("symbol"), str)}

    def symbol_rows(self, path: str, symbol: str, what: str, id_field: str) -> list[dict[str, Any]]:
        """Every row of `symbol` in the window: newest first, then 24-hour windows backwards."""
        rows: dict[Any, dict[str, Any]] = {}
        since, until = self.r.since_ms, self.r.until_ms

        def keep(batch: Any, lo: int | None, hi: int | None) -> list[dict[str, Any]]:
            if not isinstance(batch, list):
                self.miss(what, "error", "not a JSON list", lo, hi)
                return []
            good = [x for x in batch if isinstance(x, dict) and isinstance(x.get("time"), int)]
            for x in good:
                rows[x.get(id_field, id(x))] = x
            return good

        try:
            recent = keep(self.get(path, {"symbol": symbol, "endTime": until, "limit": PAGE_LIMIT}, what,
                                   since=since, until=until), since, until)
        except _Skip:
            return []
        if len(recent) >= PAGE_LIMIT and min(x["time"] for x in recent) > since:
            hi = min(x["time"] for x in recent)
            while hi >= since:
                lo = max(since, hi - WINDOW_24H)
                self.window(path, symbol, what, lo, hi, keep)
                hi = lo - 1
        return [x for x in rows.values() if since <= x["time"] <= until]

    def window(self, path: str, symbol: str, what: str, lo: int, hi: int,
               keep: Callable[[Any, int | None, int | None], list[dict[str, Any]]]) -> None:
        try:
            got = keep(self.get(path, {"symbol": symbol, "startTime": lo, "endTime": hi, "limit": PAGE_LIMIT},
                                what, since=lo, until=hi), lo, hi)
        except _Skip:
            return
        if len(got) >= PAGE_LIMIT:
            if hi - lo < 2:
                self.miss(what, "truncated", f"more than {PAGE_LIMIT} records in one millisecond", lo, hi)
                return
            mid = lo + (hi - lo) // 2
            self.window(path, symbol, what, lo, mid, keep)
            self.window(path, symbol, what, mid + 1, hi, keep)

    def add(self, event: dict[str, Any]) -> None:
        t = event["time_ms"]
        if not self.r.since_ms <= t <= self.r.until_ms:
            return
        exposed = self.r.exposure.get("first_exposed_ms") if self.r.exposure else None
        event["time"] = iso(t)
        event["after_exposure"] = bool(exposed is not None and t >= exposed)
        self.r.timeline.append(event)


# ---------------------------------------------------------------------------------- record shapes

def _withdrawal(row: dict[str, Any]) -> dict[str, Any] | None:
    t = _parse_utc(row.get("applyTime"))
    if t is None:
        return None
    status = row.get("status")
    return {"time_ms": t, "kind": "withdrawal", "asset": str(row.get("coin") or ""), "amount": str(row.get("amount")),
            "fee": str(row.get("transactionFee") or "0"), "direction": "out",
            "status": WITHDRAW_STATUS.get(status, str(status)) if isinstance(status, int) else str(status),
            "counted": not (isinstance(status, int) and status in WITHDRAW_NOT_SENT),
            "address": str(row.get("address") or ""), "network": str(row.get("network") or ""),
            "tx_id": str(row.get("txId") or ""), "id": str(row.get("id") or "")}


def _deposit(row: dict[str, Any]) -> dict[str, Any] | None:
    t = row.get("insertTime")
    if isinstance(t, bool) or not isinstance(t, int):
        return None
    status = row.get("status")
    return {"time_ms": t, "kind": "deposit", "asset": str(row.get("coin") or ""), "amount": str(row.get("amount")),
            "direction": "in",
            "status": DEPOSIT_STATUS.get(status, str(status)) if isinstance(status, int) else str(status),
            "counted": isinstance(status, int) and status in DEPOSIT_CREDITED,
            "address": str(row.get("address") or ""), "network": str(row.get("network") or ""),
            "tx_id": str(row.get("txId") or ""), "id": str(row.get("id") or "")}


def _transfer(row: dict[str, Any]) -> dict[str, Any] | None:
    t = row.get("timestamp")
    if isinstance(t, bool) or not isinstance(t, int):
        return None
    return {"time_ms": t, "kind": "transfer", "asset": str(row.get("asset") or ""), "amount": str(row.get("amount")),
            "direction": "internal", "type": str(row.get("type") or ""), "status": str(row.get("status") or ""),
            "id": str(row.get("tranId") or "")}


def _fill(row: dict[str, Any], base: str | None, quote: str | None) -> dict[str, Any]:
    return {"time_ms": row["time"], "kind": "fill", "symbol": str(row.get("symbol")), "base": base, "quote": quote,
            "asset": base, "side": "BUY" if row.get("isBuyer") else "SELL", "amount": str(row.get("qty")),
            "price": str(row.get("price")), "quote_amount": str(row.get("quoteQty")),
            "fee": str(row.get("commission") or "0"), "fee_asset": str(row.get("commissionAsset") or ""),
            "direction": "trade", "id": str(row.get("id")), "order_id": str(row.get("orderId"))}


def _order(row: dict[str, Any], base: str | None) -> dict[str, Any]:
    return {"time_ms": row["time"], "kind": "order", "symbol": str(row.get("symbol")), "asset": base,
            "side": str(row.get("side")), "type": str(row.get("type")), "status": str(row.get("status")),
            "amount": str(row.get("origQty")), "executed": str(row.get("executedQty")), "price": str(row.get("price")),
            "direction": "trade", "id": str(row.get("orderId"))}


def _parse_utc(value: Any) -> int | None:
    """Binance's withdrawal `applyTime`: 'YYYY-MM-DD HH:MM:SS' in UTC."""
    if not isinstance(value, str):
        return None
    try:
        when = _dt.datetime.strptime(value.strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=_dt.timezone.utc)
    except ValueError:
        return None
    return int(when.timestamp() * 1000)


def split_symbol(symbol: str, assets: Iterable[str] = ()) -> tuple[str | None, str | None]:
    """(base, quote) of a symbol, from the assets seen and common quote assets; (None, None) if unsure."""
    for q in sorted(set(QUOTES) | set(assets), key=len, reverse=True):
        if symbol.endswith(q) and len(symbol) > len(q):
            return symbol[: -len(q)], q
    return None, None


def candidate_symbols(assets: Iterable[str], valid: set[str] | None, extra: Iterable[str]) -> list[str]:
    """Symbols the assets point to (each asset against the others and common quote assets) that
    Binance lists, plus the ones named by the user."""
    names = sorted({a.upper() for a in assets if a})
    quotes = sorted(set(QUOTES) | set(names))
    found = set()
    if valid is not None:
        for a in names:
            for q in quotes:
                if a != q and f"{a}{q}" in valid:
                    found.add(f"{a}{q}")
    return sorted(found | {s.upper() for s in extra})


# ------------------------------------------------------------------------------------------ the run

def read_activity(creds: Credentials, *, transport: Transport, since_ms: int, until_ms: int, window_source: str,
                  exposure: dict[str, Any] | None = None, symbols: Iterable[str] = (),
                  max_weight: int = DEFAULT_MAX_WEIGHT, progress: Progress | None = None,
                  sleep: Callable[[float], None] | None = None, max_pause: float = DEFAULT_MAX_PAUSE) -> ActivityResult:
    """Read what the account did in [since_ms, until_ms] with the leaked key; GET calls only."""
    if creds.signer is None:
        raise CexguardError("reading activity needs the key's secret or private key")
    if until_ms < since_ms:
        raise CexguardError(f"the window is empty: --until ({iso(until_ms)}) is before --since ({iso(since_ms)})")
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    result = ActivityResult(key_fingerprint=creds.fingerprint, key_redacted=creds.redacted, api_url=transport.base_url,
                            since_ms=since_ms, until_ms=until_ms, window_source=window_source, exposure=exposure,
                            generated_at=now)
    budget = Budget(transport, max_weight=max_weight, max_pause=max_pause, sleep=sleep, progress=progress)
    reader = _Reader(creds, transport, budget, result, progress)
    try:
        reader.say("reading the key's permissions")
        reader.restrictions()
        if result.permissions is not None and result.permissions.get("enableReading") is False:
            reader.miss("everything", "permission", "the key has no reading permission (enableReading is off): "
                        "Binance answers none of the history reads")
        else:
            _read_all(reader, result, symbols)
    except BudgetReached as e:  # only the very first call can raise it here
        reader.miss("everything", "budget", str(e))
    except RemoteError as e:
        if isinstance(e, Unreachable):
            raise
        raise CexguardError(str(e)) from None
    result.timeline.sort(key=lambda e: (e["time_ms"], e["kind"], e.get("id", "")))
    result.weight = budget.to_dict()
    return result


def _read_all(reader: _Reader, result: ActivityResult, symbols: Iterable[str]) -> None:
    if reader.sapi:
        reader.say("reading the API trading status")
        reader.trading_status()
    reader.say("reading the account and balances")
    reader.account()
    if reader.sapi:
        reader.paged_windows("/sapi/v1/capital/withdraw/history", "withdrawals", _withdrawal)
        reader.paged_windows("/sapi/v1/capital/deposit/hisrec", "deposits", _deposit)
        reader.transfers()
    assets = {b["asset"] for b in (result.account or {}).get("balances", [])}
    assets |= {e["asset"] for e in result.timeline if e["kind"] in ("deposit", "withdrawal") and e.get("asset")}
    reader.say("reading the list of symbols")
    valid = reader.valid_symbols()
    wanted = candidate_symbols(assets, valid, symbols)
    result.symbols = wanted
    if valid is None and not list(symbols):
        result.notes.append("the symbol list could not be read: name symbols with --symbol to read orders and fills")
    for i, symbol in enumerate(wanted, 1):
        base, quote = split_symbol(symbol, assets)
        if valid is not None and symbol not in valid:
            reader.miss(f"orders and fills {symbol}", "error", "Binance does not list this symbol")
            continue
        reader.say(f"reading fills and orders of {symbol} ({i}/{len(wanted)})")
        for row in reader.symbol_rows("/api/v3/myTrades", symbol, f"fills {symbol}", "id"):
            reader.add(_fill(row, base, quote))
        for row in reader.symbol_rows("/api/v3/allOrders", symbol, f"orders {symbol}", "orderId"):
            reader.add(_order(row, base))


# --------------------------------------------------------------------------------------------- text

def render_text(result: ActivityResult) -> str:
    d = result.to_dict()
    lines = [f"activity of key {result.key_redacted}  ({result.key_fingerprint})",
             f"window     {d['window']['since']} .. {d['window']['until']}  ({result.window_source})"]
    exp = result.exposure
    if exp:
        where = ", ".join(x for x in (f"commit {str(exp.get('commit'))[:12]}" if exp.get("commit") else "",
                                      f"path {exp.get('path')}" if exp.get("path") else "") if x)
        lines.append(f"exposed    since {exp.get('first_exposed_at')}" + (f" ({where})" if where else "")
                     + ": events from then on are marked '!'")
    else:
        lines.append("exposed    unknown (give --from-report FILE or --since COMMIT): nothing is flagged")
    if result.account:
        a = result.account
        lines.append("account    " + ", ".join(f"{k}={a[k]}" for k in ("uid", "accountType", "canTrade", "canWithdraw")
                                              if k in a))
        bal = ", ".join(f"{b['asset']} {b['free']}" + (f" (+{b['locked']} locked)" if b["locked"] != "0" else "")
                        for b in a.get("balances", []))
        lines.append(f"balances   {bal or '(none)'}")
    if result.trading_status is not None:
        locked = result.trading_status.get("isLocked")
        lines.append(f"trading    {'LOCKED by Binance' if locked else 'not locked'} (apiTradingStatus)")
    if result.permissions:
        on = [k for k, v in result.permissions.items() if v is True]
        lines.append("key may    " + (", ".join(on) or "(nothing)"))
    s = d["summary"]
    lines.append(f"timeline   {s['events']} event(s), {s['after_exposure']} after the first exposure")
    for e in result.timeline:
        lines.append(("  ! " if e.get("after_exposure") else "    ") + f"{e['time']}  {_describe(e)}")
    for title, tot in (("totals (window)", d["totals"]), ("totals after the first exposure", d["totals_after_exposure"])):
        if tot:
            lines.append(title)
            for asset, row in tot.items():
                parts = [f"{k} {v}" for k, v in row.items() if v != "0" and k != "net"]
                lines.append(f"  {asset:<8} " + ", ".join(parts) + f"; net {row['net']}")
    if result.not_read:
        lines.append("NOT READ (the timeline is incomplete)")
        for n in result.not_read:
            span = f" {n['since']} .. {n['until']}" if n.get("since") else ""
            lines.append(f"  - {n['what']}{span}: {n['reason']}: {n['detail']}")
    else:
        lines.append("complete   every read in the window succeeded")
    for note in result.notes:
        lines.append(f"note       {note}")
    w = result.weight
    lines.append(f"weight     {w.get('spent')} of a {w.get('budget')} budget (IP weight); peak per minute reported by "
                 f"Binance: {w.get('peak_reported_per_minute') or {}}; waited {w.get('paused_seconds')}s")
    lines.append(f"calls      {result.calls}, all read-only (GET); nothing was placed, cancelled or moved")
    lines.append("records do not say which API key made them: this is the account's activity in the window")
    return "\n".join(safe(line) for line in lines) + "\n"


def _describe(e: Mapping[str, Any]) -> str:
    k = e["kind"]
    if k == "withdrawal":
        return (f"withdrawal  {e['asset']} {e['amount']} (fee {e.get('fee')}) to {e.get('address')} "
                f"[{e.get('status')}] network {e.get('network')} tx {e.get('tx_id')}")
    if k == "deposit":
        return f"deposit     {e['asset']} {e['amount']} [{e.get('status')}] tx {e.get('tx_id')}"
    if k == "transfer":
        return f"transfer    {e['asset']} {e['amount']} {e.get('type')} [{e.get('status')}]"
    if k == "fill":
        return (f"fill        {e['symbol']} {e['side']} {e['amount']} @ {e.get('price')} "
                f"(fee {e.get('fee')} {e.get('fee_asset')})")
    return f"order       {e['symbol']} {e['side']} {e.get('type')} {e['amount']} @ {e.get('price')} [{e.get('status')}]"


__all__ = ["ActivityResult", "Budget", "read_activity", "render_text", "totals"]

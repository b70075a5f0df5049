"""Issue 14: credentials of Bybit, OKX, KuCoin, Kraken, Coinbase, Bitget, Gate, MEXC and HTX are found
in the places they leak (their SDKs' constructor calls in Python/JS/Go, `.env`, freqtrade, hummingbot
and ccxt configs), each under its exchange's kind and paired; the shapes they share with ordinary
identifiers (a lone UUID, 24/32/64-hex, 18 letters) are never reported on their own.

Templates are inline; markers `@@NAME@@` / `@@NAME|json@@` are replaced by values generated at test
time in each exchange's published shape (see ../notes or rules/<exchange>.yaml for the sources):

- `<EX>_KEY`, `<EX>_SECRET`, `<EX>_PASS`: API key, secret, passphrase of exchange EX;
- `CB_NAME` (organizations/{uuid}/apiKeys/{uuid}), `CB_ID` (UUID key id), `CB_EC` (EC P-256 PEM),
  `CB_ED` (Ed25519 key as 88 base64 characters): Coinbase CDP keys;
- `NEG_*`: look-alike values that must not be reported (UUID, hex ids, digests, identifiers).

Every secret marker gives exactly one finding at its line and column, of its exchange's kind, with its
value; the key and secret of a case are paired with each other and a passphrase is tied to its pair.
Nothing else is reported. Both prefilters run every case.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import string
import time
import uuid
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from scanner.engine import Engine
from scanner.models import Finding, fingerprint_of

ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
MARKER = re.compile(r"@@([A-Z0-9_]+)(?:\|([a-z]+))?@@")
EXCHANGE = {"BYBIT": "bybit", "OKX": "okx", "KUCOIN": "kucoin", "KRAKEN": "kraken", "CB": "coinbase",
            "BITGET": "bitget", "GATE": "gate", "MEXC": "mexc", "HTX": "htx"}


# -- values in each exchange's shape ---------------------------------------------------------------

def _mixed(n: int, alphabet: str = ALNUM) -> str:
    """n random characters holding upper, lower and digit (as the exchanges' random keys do, almost always)."""
    while True:
        s = "".join(secrets.choice(alphabet) for _ in range(n))
        if any(c.isupper() for c in s) and any(c.islower() for c in s) and any(c.isdigit() for c in s):
            return s


def _hex(n: int) -> str:
    return "".join(secrets.choice(HEX) for _ in range(n))


def _passphrase() -> str:
    """A user-chosen passphrase: letters, digits and a symbol, 10-16 characters."""
    return _mixed(secrets.randbelow(7) + 9) + secrets.choice("!@#$%*?_-")


def _object_id() -> str:
    """KuCoin API keys are MongoDB ObjectIds: creation time in seconds, then 16 random hex digits."""
    created = int(time.time()) - secrets.randbelow(5 * 365 * 86400)
    return f"{created:08x}" + _hex(16)


def _htx_key() -> str:
    """Three hex groups and one 10-character region tag, in any position (8-10-8-5, 10-8-8-5, ...)."""
    tag = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(9)) + \
        secrets.choice("ghijklmnopqrstuvwxyz")
    groups = [_hex(8), _hex(8), _hex(5)]
    groups.insert(secrets.randbelow(3), "".join(secrets.SystemRandom().sample(tag, len(tag))))
    return "-".join(groups)


def _ec_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption()).decode()


def _ed25519_pem() -> str:
    """CDP's Ed25519 key as PKCS#8 PEM (BEGIN PRIVATE KEY), which coinbase-advanced-py also accepts."""
    return ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


def _ed25519_b64() -> str:
    """CDP's Ed25519 secret: base64 of the 32-byte seed followed by the 32-byte public key."""
    key = ed25519.Ed25519PrivateKey.generate()
    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())
    pub = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(seed + pub).decode()


GENERATORS = {
    "BYBIT_KEY": lambda: _mixed(18), "BYBIT_SECRET": lambda: _mixed(36),
    "OKX_KEY": lambda: str(uuid.uuid4()), "OKX_SECRET": lambda: _hex(32).upper(), "OKX_PASS": _passphrase,
    "KUCOIN_KEY": _object_id, "KUCOIN_SECRET": lambda: str(uuid.uuid4()), "KUCOIN_PASS": _passphrase,
    "KRAKEN_KEY": lambda: base64.b64encode(secrets.token_bytes(42)).decode(),
    "KRAKEN_SECRET": lambda: base64.b64encode(secrets.token_bytes(64)).decode(),
    "CB_NAME": lambda: f"organizations/{uuid.uuid4()}/apiKeys/{uuid.uuid4()}", "CB_ID": lambda: str(uuid.uuid4()),
    "CB_EC": _ec_pem, "CB_ED": _ed25519_b64, "CB_EDPEM": _ed25519_pem,
    "BITGET_KEY": lambda: "bg_" + _hex(32), "BITGET_SECRET": lambda: _hex(64), "BITGET_PASS": _passphrase,
    "GATE_KEY": lambda: _hex(32), "GATE_SECRET": lambda: _hex(64),
    "MEXC_KEY": lambda: "mx0" + _mixed(15), "MEXC_SECRET": lambda: _hex(32),
    "HTX_KEY": _htx_key, "HTX_SECRET": lambda: "-".join([_hex(8), _hex(8), _hex(8), _hex(5)]),
    # look-alikes that are no credential
    "NEG_UUID": lambda: str(uuid.uuid4()), "NEG_HEX24": _object_id, "NEG_HEX32": lambda: _hex(32),
    "NEG_HEX32U": lambda: _hex(32).upper(), "NEG_HEX64": lambda: hashlib.sha256(secrets.token_bytes(16)).hexdigest(),
    "NEG_UPPER18": lambda: "".join(secrets.choice(string.ascii_uppercase) for _ in range(18)),  # pybit's test style
    "NEG_UPPER36": lambda: "".join(secrets.choice(string.ascii_uppercase) for _ in range(36)),
    "NEG_MD5": lambda: hashlib.md5(secrets.token_bytes(16)).hexdigest(),  # a digest, not to report
}


def kind_of(name: str) -> str | None:
    if name.startswith("NEG_"):
        return None
    ex, _, role = name.rpartition("_")
    ex = EXCHANGE[ex]
    if name in ("CB_NAME", "CB_ID"):
        return "coinbase_api_key"
    if name in ("CB_EC", "CB_ED", "CB_EDPEM"):
        return "coinbase_private_key"
    return {"KEY": f"{ex}_api_key", "SECRET": f"{ex}_secret_key", "PASS": f"{ex}_passphrase"}[role]


def _pem_der(pem: str) -> bytes:
    return base64.b64decode("".join(ln for ln in pem.splitlines() if ln and not ln.startswith("-----")))


# -- rendering --------------------------------------------------------------------------------------

@dataclass
class Expected:
    name: str
    kind: str
    fingerprint: str
    value: str | None
    line: int
    column: int


def render(template: str) -> tuple[str, list[Expected]]:
    values: dict[str, str] = {}
    out: list[str] = []
    spans: list[tuple[str, int]] = []
    pos = length = 0
    for m in MARKER.finditer(template):
        out.append(template[pos:m.start()])
        length += m.start() - pos
        name, enc = m.group(1), m.group(2)
        if name not in values:
            values[name] = GENERATORS[name]()
        v = json.dumps(values[name])[1:-1] if enc == "json" else values[name]
        spans.append((name, length))
        out.append(v)
        length += len(v)
        pos = m.end()
    out.append(template[pos:])
    text = "".join(out)
    expected: list[Expected] = []
    for name, start in spans:
        kind = kind_of(name)
        if kind is None or any(e.name == name for e in expected):
            continue
        value = values[name]
        pem = value.startswith("-----BEGIN")
        expected.append(Expected(name, kind, fingerprint_of(_pem_der(value)) if pem else fingerprint_of(value),
                                 None if pem else value, text.count("\n", 0, start) + 1,
                                 start - (text.rfind("\n", 0, start) + 1) + 1))
    return text, expected


# -- the cases: (id, file name, template) -------------------------------------------------------------

CASES: list[tuple[str, str, str]] = [
    # Bybit
    ("bybit_pybit", "bot/bybit_client.py", """from pybit.unified_trading import HTTP

session = HTTP(
    testnet=False,
    api_key="@@BYBIT_KEY@@",
    api_secret="@@BYBIT_SECRET@@",
)
print(session.get_wallet_balance(accountType="UNIFIED"))
"""),
    ("bybit_js", "src/bybit.js", """const { RestClientV5 } = require('bybit-api');

const client = new RestClientV5({
  testnet: false,
  key: '@@BYBIT_KEY@@',
  secret: '@@BYBIT_SECRET@@',
});
"""),
    ("bybit_go", "cmd/bybit/main.go", """package main

import bybit "github.com/bybit-exchange/bybit.go.api"

func main() {
	client := bybit.NewBybitHttpClient("@@BYBIT_KEY@@", "@@BYBIT_SECRET@@", bybit.WithBaseURL(bybit.MAINNET))
	_ = client
}
"""),
    ("bybit_env", ".env", "BYBIT_API_KEY=@@BYBIT_KEY@@\nBYBIT_API_SECRET=@@BYBIT_SECRET@@\nBYBIT_TESTNET=false\n"),
    ("bybit_freqtrade", "user_data/config.json", """{
    "max_open_trades": 3,
    "stake_currency": "USDT",
    "exchange": {
        "name": "bybit",
        "key": "@@BYBIT_KEY@@",
        "secret": "@@BYBIT_SECRET@@",
        "ccxt_config": {},
        "pair_whitelist": ["BTC/USDT:USDT"]
    }
}
"""),
    ("bybit_hummingbot", "conf/connectors/bybit.yml", """connector: bybit
bybit_api_key: @@BYBIT_KEY@@
bybit_api_secret: @@BYBIT_SECRET@@
"""),
    ("bybit_ccxt", "arb/exchanges.py", """import ccxt

bybit = ccxt.bybit({
    'apiKey': '@@BYBIT_KEY@@',
    'secret': '@@BYBIT_SECRET@@',
    'enableRateLimit': True,
})
"""),
    # OKX
    ("okx_python", "okx_bot.py", """import okx.Account as Account

account = Account.AccountAPI(
    api_key="@@OKX_KEY@@",
    api_secret_key="@@OKX_SECRET@@",
    passphrase="@@OKX_PASS@@",
    flag="0",  # live trading
)
"""),
    ("okx_python_positional", "okx_bot.py", """import okx.Trade as Trade

tradeAPI = Trade.TradeAPI("@@OKX_KEY@@", "@@OKX_SECRET@@", passphrase, False, flag)
"""),
    ("okx_js", "src/okx.ts", """import { RestClient } from 'okx-api';

const client = new RestClient({
  apiKey: '@@OKX_KEY@@',
  apiSecret: '@@OKX_SECRET@@',
  apiPass: '@@OKX_PASS@@',
});
"""),
    ("okx_go", "okx/client.go", """package okx

import "github.com/amir-the-h/okex/api"

func New(ctx context.Context) (*api.Client, error) {
	apiKey := "@@OKX_KEY@@"
	secretKey := "@@OKX_SECRET@@"
	passphrase := "@@OKX_PASS@@"
	return api.NewClient(ctx, apiKey, secretKey, passphrase, okex.NormalServer)
}
"""),
    ("okx_env", ".env", "OKX_API_KEY=@@OKX_KEY@@\nOKX_SECRET_KEY=@@OKX_SECRET@@\nOKX_PASSPHRASE=@@OKX_PASS@@\n"),
    ("okx_freqtrade", "config.json", """{
    "exchange": {
        "name": "okx",
        "key": "@@OKX_KEY@@",
        "secret": "@@OKX_SECRET@@",
        "password": "@@OKX_PASS@@",
        "pair_whitelist": ["BTC/USDT"]
    }
}
"""),
    ("okx_hummingbot", "conf/connectors/okx.yml", """connector: okx
okx_api_key: @@OKX_KEY@@
okx_secret_key: @@OKX_SECRET@@
okx_passphrase: '@@OKX_PASS@@'
"""),
    ("okx_ccxt", "main.py", """exchange = ccxt.okx({
    "apiKey": "@@OKX_KEY@@",
    "secret": "@@OKX_SECRET@@",
    "password": "@@OKX_PASS@@",
})
"""),
    # KuCoin
    ("kucoin_python", "kc.py", """from kucoin.client import User, Trade

api_key = '@@KUCOIN_KEY@@'
api_secret = '@@KUCOIN_SECRET@@'
api_passphrase = '@@KUCOIN_PASS@@'
client = User(api_key, api_secret, api_passphrase)
"""),
    ("kucoin_universal", "kucoin_rest.py", """from kucoin_universal_sdk.model import ClientOptionBuilder, GLOBAL_API_ENDPOINT

client_option = (
    ClientOptionBuilder()
    .set_key("@@KUCOIN_KEY@@")
    .set_secret("@@KUCOIN_SECRET@@")
    .set_passphrase("@@KUCOIN_PASS@@")
    .set_spot_endpoint(GLOBAL_API_ENDPOINT)
    .build()
)
"""),
    ("kucoin_env", "deploy/.env", "KUCOIN_API_KEY=@@KUCOIN_KEY@@\nKUCOIN_API_SECRET=@@KUCOIN_SECRET@@\n"
                                  "KUCOIN_API_PASSPHRASE=@@KUCOIN_PASS@@\n"),
    ("kucoin_freqtrade", "config_kucoin.json", """{
    "exchange": {
        "name": "kucoin",
        "key": "@@KUCOIN_KEY@@",
        "secret": "@@KUCOIN_SECRET@@",
        "password": "@@KUCOIN_PASS@@"
    }
}
"""),
    ("kucoin_hummingbot", "conf/connectors/kucoin.yml", """connector: kucoin
kucoin_api_key: @@KUCOIN_KEY@@
kucoin_secret_key: @@KUCOIN_SECRET@@
kucoin_passphrase: @@KUCOIN_PASS@@
"""),
    # Kraken
    ("kraken_krakenex", "kraken_balance.py", """import krakenex

k = krakenex.API(key='@@KRAKEN_KEY@@',
                 secret='@@KRAKEN_SECRET@@')
print(k.query_private('Balance'))
"""),
    ("kraken_sdk", "trade.py", """from kraken.spot import User, Trade

user = User(key="@@KRAKEN_KEY@@", secret="@@KRAKEN_SECRET@@")
"""),
    ("kraken_env", ".env", "KRAKEN_API_KEY=@@KRAKEN_KEY@@\nKRAKEN_API_SECRET=@@KRAKEN_SECRET@@\n"),
    ("kraken_key_file", "kraken.key", "@@KRAKEN_KEY@@\n@@KRAKEN_SECRET@@\n"),
    ("kraken_freqtrade", "user_data/config_kraken.json", """{
    "exchange": {
        "name": "kraken",
        "key": "@@KRAKEN_KEY@@",
        "secret": "@@KRAKEN_SECRET@@",
        "ccxt_config": {"enableRateLimit": true}
    }
}
"""),
    ("kraken_hummingbot", "conf/connectors/kraken.yml", """connector: kraken
kraken_api_key: @@KRAKEN_KEY@@
kraken_secret_key: @@KRAKEN_SECRET@@
"""),
    # Coinbase (CDP / Advanced Trade)
    ("coinbase_rest_ec", "cb.py", """from coinbase.rest import RESTClient

api_key = "@@CB_NAME@@"
api_secret = "@@CB_EC|json@@"
client = RESTClient(api_key=api_key, api_secret=api_secret)
"""),
    ("coinbase_key_file", "cdp_api_key.json", """{
   "name": "@@CB_NAME@@",
   "privateKey": "@@CB_EC|json@@"
}
"""),
    ("coinbase_key_file_ed25519", "cdp_api_key.json", """{
   "id": "@@CB_ID@@",
   "privateKey": "@@CB_ED@@"
}
"""),
    ("coinbase_env_ed25519", ".env", "COINBASE_API_KEY=@@CB_ID@@\nCOINBASE_API_SECRET=@@CB_ED@@\n"),
    ("coinbase_cdp_ts", "src/cdp.ts", """import { CdpClient } from "@coinbase/cdp-sdk";

const cdp = new CdpClient({
  apiKeyId: "@@CB_ID@@",
  apiKeySecret: "@@CB_ED@@",
});
"""),
    ("coinbase_hummingbot", "conf/connectors/coinbase_advanced_trade.yml", """connector: coinbase_advanced_trade
coinbase_advanced_trade_api_key: @@CB_NAME@@
coinbase_advanced_trade_api_secret: "@@CB_EC|json@@"
"""),
    # Bitget
    ("bitget_python", "bitget_bot.py", """import bitget.bitget_api as baseApi

apiKey = "@@BITGET_KEY@@"
secretKey = "@@BITGET_SECRET@@"
passphrase = "@@BITGET_PASS@@"
baseApi = baseApi.BitgetApi(apiKey, secretKey, passphrase)
"""),
    ("bitget_js", "bitget.mjs", """import { RestClientV2 } from 'bitget-api';

const client = new RestClientV2({
  apiKey: '@@BITGET_KEY@@',
  apiSecret: '@@BITGET_SECRET@@',
  apiPass: '@@BITGET_PASS@@',
});
"""),
    ("bitget_env", ".env", "BITGET_API_KEY=@@BITGET_KEY@@\nBITGET_SECRET_KEY=@@BITGET_SECRET@@\n"
                          "BITGET_PASSPHRASE=@@BITGET_PASS@@\n"),
    ("bitget_freqtrade", "config.json", """{
    "exchange": {
        "name": "bitget",
        "key": "@@BITGET_KEY@@",
        "secret": "@@BITGET_SECRET@@",
        "password": "@@BITGET_PASS@@"
    }
}
"""),
    ("bitget_hummingbot", "conf/connectors/bitget.yml", """connector: bitget
bitget_api_key: @@BITGET_KEY@@
bitget_secret_key: @@BITGET_SECRET@@
bitget_passphrase: @@BITGET_PASS@@
"""),
    # Gate
    ("gate_python", "gate_trade.py", """import gate_api

configuration = gate_api.Configuration(
    host="https://api.gateio.ws/api/v4",
    key="@@GATE_KEY@@",
    secret="@@GATE_SECRET@@",
)
api_client = gate_api.ApiClient(configuration)
"""),
    ("gate_go", "gate/main.go", """package main

import "github.com/gateio/gateapi-go/v6"

func main() {
	client := gateapi.NewAPIClient(gateapi.NewConfiguration())
	ctx := context.WithValue(context.Background(), gateapi.ContextGateAPIV4, gateapi.GateAPIV4{
		Key:    "@@GATE_KEY@@",
		Secret: "@@GATE_SECRET@@",
	})
	_, _, _ = client.SpotApi.ListSpotAccounts(ctx, nil)
}
"""),
    ("gate_env", ".env", "GATE_API_KEY=@@GATE_KEY@@\nGATE_API_SECRET=@@GATE_SECRET@@\n"),
    ("gate_hummingbot", "conf/connectors/gate_io.yml", """connector: gate_io
gate_io_api_key: @@GATE_KEY@@
gate_io_secret_key: @@GATE_SECRET@@
"""),
    ("gate_ccxt", "bots/gate.py", """exchange = ccxt.gate({
    'apiKey': '@@GATE_KEY@@',
    'secret': '@@GATE_SECRET@@',
})
"""),
    # MEXC
    ("mexc_python", "mexc_spot.py", """from mexc_sdk import Spot

spot = Spot(api_key='@@MEXC_KEY@@', api_secret='@@MEXC_SECRET@@')
"""),
    ("mexc_js", "mexc.js", """const Mexc = require('mexc-api-sdk');
const apiKey = '@@MEXC_KEY@@'
const apiSecret = '@@MEXC_SECRET@@'
const client = new Mexc.Spot(apiKey, apiSecret);
"""),
    ("mexc_env", ".env", "MEXC_API_KEY=@@MEXC_KEY@@\nMEXC_SECRET_KEY=@@MEXC_SECRET@@\n"),
    ("mexc_hummingbot", "conf/connectors/mexc.yml", """connector: mexc
mexc_api_key: @@MEXC_KEY@@
mexc_api_secret: @@MEXC_SECRET@@
"""),
    # HTX (Huobi)
    ("htx_python", "huobi/privateconfig.py", """p_api_key = "@@HTX_KEY@@"
p_secret_key = "@@HTX_SECRET@@"
"""),
    ("htx_client", "htx_bot.py", """from huobi.client.account import AccountClient

account_client = AccountClient(api_key="@@HTX_KEY@@",
                               secret_key="@@HTX_SECRET@@")
"""),
    ("htx_env", ".env", "HTX_API_KEY=@@HTX_KEY@@\nHTX_SECRET_KEY=@@HTX_SECRET@@\n"),
    ("htx_ccxt", "exchanges.py", """huobi = ccxt.htx({
    'apiKey': '@@HTX_KEY@@',
    'secret': '@@HTX_SECRET@@',
})
"""),
    # camelCase names with the exchange as a prefix (JS/TS/Java style)
    ("okx_camel_case", "src/okxClient.ts", """const okxApiKey = "@@OKX_KEY@@";
const okxSecretKey = "@@OKX_SECRET@@";
const okxPassphrase = "@@OKX_PASS@@";
"""),
    ("kucoin_camel_case", "kucoin/config.js", """export const kucoinApiKey = '@@KUCOIN_KEY@@';
export const kucoinApiSecret = '@@KUCOIN_SECRET@@';
export const kucoinPassphrase = '@@KUCOIN_PASS@@';
"""),
    ("bitget_camel_case", "Bitget.java", """String bitgetApiKey = "@@BITGET_KEY@@";
String bitgetSecretKey = "@@BITGET_SECRET@@";
String bitgetPassphrase = "@@BITGET_PASS@@";
"""),
]

# Files where nothing may be reported: exchange look-alikes, placeholders, other exchanges' shapes.
NEGATIVES: list[tuple[str, str, str]] = [
    ("lone_uuid_okx", "okx_orders.py", """# okx order ids
ord_id = "@@NEG_UUID@@"
client_order_id = "@@NEG_UUID@@"
resp = tradeAPI.get_order(instId="BTC-USDT", ordId=ord_id)
"""),
    ("bybit_order_link_ids", "test_bybit_exchange.py", """# bybit v5 order responses
order = {"orderId": "@@NEG_UUID@@", "orderLinkId": "@@NEG_UUID@@", "totalWalletBalance": "1.5",
         "category": "spot", "symbol": "BTCUSDT"}
ACCOUNT_FIELDS = ["totalWalletBalance", "totalMarginBalance", "lastPriceOnEntry"]
"""),
    ("kucoin_order_ids", "kucoin_fills.json", """{"code": "200000", "data": {"items": [
  {"orderId": "@@NEG_HEX24@@", "tradeId": "@@NEG_HEX24@@", "symbol": "BTC-USDT"},
  {"id": "@@NEG_HEX24@@", "clientOid": "@@NEG_UUID@@", "symbol": "ETH-USDT"}
]}}
"""),
    ("gate_digests", "gate_io_utils.py", """# gate.io websocket signatures and payload hashes
payload_hash = "@@NEG_HEX64@@"
checksum_md5 = "@@NEG_MD5@@"
signature = "@@NEG_HEX64@@"
"""),
    ("bitget_sha256", "bitget/notes.md", """Bitget release artifacts
sha256: @@NEG_HEX64@@
md5: @@NEG_MD5@@
"""),
    ("okx_upper_hex_alone", "okx/const.py", """# okx instrument cache
CACHE_TOKEN = "@@NEG_HEX32U@@"
"""),
    ("mexc_lone_hex", "mexc_trades.py", """# mexc
trade_id = "@@NEG_HEX32@@"
"""),
    ("placeholders", ".env.example", """BYBIT_API_KEY=xxxxxxxxxxxxxxxxxx
BYBIT_API_SECRET=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
OKX_API_KEY=your_api_key_here
OKX_SECRET_KEY=your-api-secret-here
OKX_PASSPHRASE=your-passphrase-here
KUCOIN_API_KEY=your-api-key
KRAKEN_API_KEY=keykeykeykeykeykeykeykeykeykeykeykeykeykeykeykeykeykeykey
KRAKEN_API_SECRET=secretsecretsecretsecretsecretsecretsecretsecretsecretsecretsecretsecretsecretsecretsecret
GATE_API_KEY=YOU_API_KEY
GATE_API_SECRET=YOUR_API_SECRET
COINBASE_API_KEY="organizations/{org_id}/apiKeys/{key_id}"
COINBASE_API_SECRET="-----BEGIN EC PRIVATE KEY-----\\nYOUR PRIVATE KEY\\n-----END EC PRIVATE KEY-----\\n"
MEXC_API_KEY=mx0vgl...
HTX_API_KEY=xxxxxxxx-xxxxxxxx-xxxxxxxx-xxxxx
"""),
    ("sdk_test_placeholders", "tests/test_connectors.py", """exchange = BitgetExchange(bitget_api_key="test_api_key", bitget_secret_key="test_secret_key",
                          bitget_passphrase="test_passphrase")
mexc = MexcExchange(mexc_api_key="testAPIKey", mexc_api_secret="testSecret")
okx = Account.AccountAPI(api_key='-1', api_secret_key='-1', passphrase='-1')
_api_key = "@@NEG_UPPER18@@"
_api_secret = "@@NEG_UPPER36@@"
"""),
    ("freqtrade_example", "config_examples/config_okx.example.json", """{
    "exchange": {
        "name": "okx",
        "key": "your_exchange_key",
        "secret": "your_exchange_secret",
        "password": "your_exchange_passphrase"
    },
    "api_server": {
        "enabled": false,
        "username": "freqtrader",
        "password": "SuperSecurePassword",
        "jwt_secret_key": "somethingrandom"
    }
}
"""),
    ("password_alone", "settings.py", """# the okx and kucoin connectors read their keys from the vault
DATABASE_PASSWORD = "Tr0ub4dor&3xyz"
OKX_PASSPHRASE = os.environ["OKX_PASSPHRASE"]
"""),
    ("okx_camel_case_password_is_not_a_passphrase", "src/okx.ts", """// okx: login form, no API key
const userPass = "Tr0ub4dor&3xyz";
const dbPassword = "Tr0ub4dor&3xyz";
const okxPassphrase = process.env.OKX_PASSPHRASE;
"""),
    ("uuid_pair_no_exchange", "settings.py", """# no exchange named anywhere
SESSION_ID = "@@NEG_UUID@@"
REQUEST_TOKEN = "@@NEG_HEX32U@@"
TENANT = "@@NEG_HEX24@@"
"""),
]


def _describe(f: Finding) -> str:
    return f"{f.kind} line {f.line} col {f.column} ({f.confidence})"


# Coinbase's Ed25519 key as PKCS#8 PEM (BEGIN PRIVATE KEY) beside its key name or in a CDP key file:
# Coinbase's, not a generic private key. Binance's rule takes the same label and key type: judging gives
# the key to the rule whose words are nearest it, else the one its path names, else the one whose API key
# sits next to it, else Binance's (Engine._pick).
COINBASE_ED25519_PEM_CASES: list[tuple[str, str, str]] = [
    ("coinbase_rest_ed25519_pem", "cb.py", """from coinbase.rest import RESTClient

api_key = "@@CB_NAME@@"
api_secret = "@@CB_EDPEM|json@@"
client = RESTClient(api_key=api_key, api_secret=api_secret)
"""),
    ("coinbase_key_file_name_ed25519_pem", "cdp_api_key.json", """{
   "name": "@@CB_NAME@@",
   "privateKey": "@@CB_EDPEM|json@@"
}
"""),
    ("coinbase_key_file_id_ed25519_pem", "cdp_api_key.json", """{
   "id": "@@CB_ID@@",
   "privateKey": "@@CB_EDPEM|json@@"
}
"""),
]


@pytest.mark.parametrize("case", COINBASE_ED25519_PEM_CASES, ids=[c[0] for c in COINBASE_ED25519_PEM_CASES])
def test_coinbase_ed25519_pem_is_coinbases(case: tuple[str, str, str], engine: Engine) -> None:
    test_exchange_credentials_are_found(case, engine)


def test_binance_ed25519_pem_stays_binances_beside_coinbase_rules(engine: Engine) -> None:
    """What the engine change must keep: a PKCS#8 Ed25519 key next to a Binance word is Binance's."""
    pem = _ed25519_pem()
    text = f'# binance bot\nPRIVATE_KEY = """{pem}"""\n'
    kinds = {f.kind for f in engine.scan_bytes(text.encode(), path="bot.py") if not f.example}
    assert kinds == {"binance_private_key"}


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_exchange_credentials_are_found(case: tuple[str, str, str], engine: Engine) -> None:
    _id, path, template = case
    text, expected = render(template)
    findings = [f for f in engine.scan_bytes(text.encode(), path=path) if not f.example]
    by_pos = {(f.line, f.column): f for f in findings}
    assert len(by_pos) == len(findings), [_describe(f) for f in findings]
    unexpected = set(by_pos) - {(e.line, e.column) for e in expected}
    assert not unexpected, f"{path}: unexpected {[_describe(by_pos[p]) for p in sorted(unexpected)]}"
    got: dict[str, Finding] = {}
    for e in expected:
        f = by_pos.get((e.line, e.column))
        assert f is not None, f"{path}: {e.name} ({e.kind}) at {e.line}:{e.column} not found; " \
                              f"found {[_describe(f) for f in findings]}"
        assert f.kind == e.kind, f"{path}: {e.name}: {_describe(f)}"
        assert f.fingerprint == e.fingerprint, f"{path}: {e.name}: wrong value"
        if e.value is not None:
            assert f.secret == e.value
        assert f.confidence in ("medium", "high"), f"{path}: {e.name}: {_describe(f)}"
        got[e.name] = f
    keys = [n for n in got if n.endswith(("_KEY", "_NAME", "_ID"))]
    secrets_ = [n for n in got if n.endswith(("_SECRET", "_EC", "_ED", "_EDPEM"))]
    assert len(keys) == len(secrets_) == 1, "each case holds one key and one secret"
    key, sec = got[keys[0]], got[secrets_[0]]
    assert key.paired_with == sec.fingerprint and sec.paired_with == key.fingerprint, \
        f"{path}: key and secret not paired with each other"
    for n, f in got.items():
        if n.endswith("_PASS"):
            assert f.paired_with in (key.fingerprint, sec.fingerprint), f"{path}: passphrase not tied to its pair"


@pytest.mark.parametrize("case", NEGATIVES, ids=[c[0] for c in NEGATIVES])
def test_exchange_look_alikes_are_not_reported(case: tuple[str, str, str], engine: Engine) -> None:
    _id, path, template = case
    text, _ = render(template)
    findings = [f for f in engine.scan_bytes(text.encode(), path=path) if not f.example]
    assert findings == [], f"{path}: {[_describe(f) for f in findings]}"


def test_lone_keys_without_their_secret_are_not_reported(engine: Engine) -> None:
    """A UUID, a 24/32-hex value or 18 letters named `api_key` next to an exchange's name is not a
    credential on its own (order ids, request ids, hashes look the same)."""
    text = (f'OKX_API_KEY = "{uuid.uuid4()}"\n\n\n\n\n\n\n\n\n'
            f'KUCOIN_API_KEY = "{_object_id()}"\n\n\n\n\n\n\n\n\n'
            f'GATE_API_KEY = "{_hex(32)}"\n\n\n\n\n\n\n\n\n'
            f'BYBIT_API_KEY = "{_mixed(18)}"\n')
    assert [_describe(f) for f in engine.scan_bytes(text.encode(), path="keys.py")] == []


def test_shared_shapes_take_the_nearest_exchange(engine: Engine) -> None:
    """Gate and Bitget secrets are both 64 hex, Gate's key and MEXC's secret both 32 hex: the exchange
    named in the same block decides the kind."""
    gate_key, gate_secret = _hex(32), _hex(64)
    mexc_key, mexc_secret = "mx0" + _mixed(15), _hex(32)
    text = (f"gateio:\n  api_key: {gate_key}\n  api_secret: {gate_secret}\n\n\n\n\n\n\n\n\n\n"
            f"mexc:\n  api_key: {mexc_key}\n  api_secret: {mexc_secret}\n")
    found = {f.secret: f.kind for f in engine.scan_bytes(text.encode(), path="exchanges.yml")}
    assert found == {gate_key: "gate_api_key", gate_secret: "gate_secret_key",
                     mexc_key: "mexc_api_key", mexc_secret: "mexc_secret_key"}


def test_binance_findings_are_unchanged_next_to_other_exchanges(engine: Engine) -> None:
    """A Binance pair in a multi-exchange config stays a Binance pair; the OKX pair beside it is OKX's."""
    from tests.conftest import new_key

    bk, bs = new_key(), new_key()
    ok, os_, op = str(uuid.uuid4()), _hex(32).upper(), _passphrase()
    text = (f'EXCHANGES = {{\n    "binance": {{"apiKey": "{bk}", "secret": "{bs}"}},\n'
            f'    "okx": {{"apiKey": "{ok}", "secret": "{os_}", "password": "{op}"}},\n}}\n')
    found = {f.secret: f.kind for f in engine.scan_bytes(text.encode(), path="multi.py")}
    assert found == {bk: "binance_api_key", bs: "binance_secret_key", ok: "okx_api_key",
                     os_: "okx_secret_key", op: "okx_passphrase"}


def test_a_path_naming_the_exchange_is_context(engine: Engine) -> None:
    """A file under a folder named for the exchange needs no word in its content (as for Binance)."""
    key, secret = _mixed(18), _mixed(36)
    text = f"API_KEY={key}\nAPI_SECRET={secret}\n"
    found = {f.secret: f.kind for f in engine.scan_bytes(text.encode(), path="deploy/bybit/.env")}
    assert found == {key: "bybit_api_key", secret: "bybit_secret_key"}
    assert engine.scan_bytes(text.encode(), path="deploy/prod/.env") == []


def test_fast_matchers_find_exactly_what_their_regular_expressions_find() -> None:
    """Stage two finds values by runs of the boundary class, or by a bare search with the opening boundary
    checked apart; both must give the matches of the rule's full regular expression, on real shapes
    glued to every kind of neighbour (escapes, slashes, dashes, padding, quotes, brackets)."""
    from scanner.config import Config

    from scanner.rules import build_engine

    engine = build_engine(Config(), prefilter="regex")
    names = [n for n in GENERATORS if not n.startswith("NEG_")] + ["NEG_UUID", "NEG_HEX24", "NEG_HEX64"]
    glue = ["", "\\n", "x", "-", "/", "_", "=", "==", " ", '"', "(", "[", "Z", "9", "+",
            "okx_passphrase=", '"password": "', "KC-API-PASSPHRASE: "]
    chunks = []
    for _ in range(1500):
        parts = [secrets.choice(glue) + GENERATORS[secrets.choice(names)]() + secrets.choice(glue)
                 for _ in range(secrets.randbelow(6) + 1)]
        chunks.append("".join(parts).encode())
    checked = 0
    for g in engine.groups:
        k = g.regex.groupindex.get("value", 1)
        for data in chunks:
            want = [(m.start(k), m.end(k)) for m in g.regex.finditer(data) if m.start(k) >= 0]
            assert [(s, e) for s, e, _v in g.tokens(data, {})] == want, (g.pattern, data)
            checked += len(want)
    assert checked > 1000  # the values were there to find


def test_a_path_that_is_not_utf8_is_read_as_context(engine: Engine) -> None:
    """File names are bytes: one that is not UTF-8 (surrogate-escaped) is still matched against the
    exchange's words, and never stops the scan."""
    key, secret = _mixed(18), _mixed(36)
    text = f"API_KEY={key}\nAPI_SECRET={secret}\n".encode()
    path = b"bybit-\xff\xfe/keys.env".decode("utf-8", "surrogateescape")
    assert {f.kind for f in engine.scan_bytes(text, path=path)} == {"bybit_api_key", "bybit_secret_key"}
    assert engine.scan_bytes(text, path=b"prod-\xff/keys.env".decode("utf-8", "surrogateescape")) == []

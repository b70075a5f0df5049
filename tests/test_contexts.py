"""Every context GitHub issue 2 lists must be found: realistic files, keys generated at test time.

Each case is a template under fixtures/contexts/<case>/ (one file, its real name plus `.tmpl`).
Markers `@@NAME@@` or `@@NAME|encoding@@` are replaced at test time:

- KEY*, SECRET*: a fresh 64-char [A-Za-z0-9] value (an API key / a secret key);
- ED25519, RSA (PKCS#8), ED25519_ENC, RSA_ENC (encrypted PKCS#8), PKCS1, PKCS1_ENC (PKCS#1
  `TraditionalOpenSSL`, plain / with DEK-Info headers): a fresh private key in PEM;
- SIG*: a fresh HMAC-SHA256 hex signature, which must NOT be reported;
- encodings: b64 (base64, as `echo -n | base64`), b64n (base64 of value + newline, as
  `echo | base64`), json (a JSON string body), indentN (YAML block scalar at N spaces), nbsrc
  (one JSON string per line, as Jupyter stores cell sources).

Every marker that holds a secret must give exactly one finding at the marker's line and column, of
the right kind, with the right value, paired as the case says; nothing else may be reported.
Both prefilters run every case.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from scanner.config import Config
from tests.conftest import new_key
from scanner.engine import Engine
from scanner.rules import build_engine
from scanner.models import Finding, fingerprint_of

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "contexts"
ALNUM = string.ascii_letters + string.digits
MARKER = re.compile(r"@@([A-Z0-9_]+)(?:\|([a-z0-9]+))?@@")
PASSPHRASE = b"correct horse battery staple"


# -- generated secrets -----------------------------------------------------------------------------


def _pem(key: ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey, fmt: serialization.PrivateFormat,
         encrypted: bool) -> str:
    enc: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(PASSPHRASE) if encrypted else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, fmt, enc).decode().rstrip("\n")


def new_pem(name: str) -> str:
    pkcs8 = serialization.PrivateFormat.PKCS8
    if name.startswith("ED25519"):
        return _pem(ed25519.Ed25519PrivateKey.generate(), pkcs8, name.endswith("_ENC"))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if name.startswith("PKCS1"):
        return _pem(key, serialization.PrivateFormat.TraditionalOpenSSL, name.endswith("_ENC"))
    return _pem(key, pkcs8, name.endswith("_ENC"))


def pem_der(pem: str) -> bytes:
    body = [ln for ln in pem.splitlines() if ln and not ln.startswith("-----") and ":" not in ln]
    return base64.b64decode("".join(body))


def hmac_signature() -> str:
    payload = b"symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.01&timestamp=1700000000000"
    return hmac.new(secrets.token_bytes(32), payload, hashlib.sha256).hexdigest()


# -- rendering templates ---------------------------------------------------------------------------

KIND = {"KEY": "binance_api_key", "SECRET": "binance_secret_key"}
PEM_NAMES = ("ED25519", "RSA", "PKCS1")


def kind_of(name: str) -> str | None:
    for prefix, kind in KIND.items():
        if re.fullmatch(prefix + r"\d*", name):
            return kind
    if name.startswith(PEM_NAMES):
        return "binance_private_key"
    return None  # SIG*: a value that must not be reported


def encode(value: str, enc: str | None, indent: str) -> str:
    if enc is None:
        return value
    if enc == "b64":
        return base64.b64encode(value.encode()).decode()
    if enc == "b64n":
        return base64.b64encode(value.encode() + b"\n").decode()
    if enc == "json":
        return json.dumps(value)[1:-1]
    if enc.startswith("indent"):
        return value.replace("\n", "\n" + " " * int(enc[len("indent"):]))
    if enc == "nbsrc":
        return ('\\n",\n' + indent + '"').join(value.split("\n"))
    raise ValueError(f"unknown encoding {enc}")


@dataclass
class Expected:
    name: str
    kind: str
    fingerprint: str
    value: str | None  # the plain secret for tokens (PEM findings are checked by fingerprint)
    line: int
    end_line: int
    column: int
    count: int = 1  # times the value occurs: a repeated key is one finding, at its first place


@dataclass
class Rendered:
    path: str
    text: str
    expected: list[Expected]


def render(template: str, path: str, values: dict[str, str]) -> Rendered:
    out: list[str] = []
    spans: list[tuple[str, int, int]] = []
    pos = 0
    length = 0
    for m in MARKER.finditer(template):
        out.append(template[pos : m.start()])
        length += m.start() - pos
        line_start = template.rfind("\n", 0, m.start()) + 1
        indent = re.match(r"[ \t]*", template[line_start:]).group()  # type: ignore[union-attr]
        name, enc = m.group(1), m.group(2)
        if name not in values:
            values[name] = (new_key() if kind_of(name) in KIND.values() else
                            new_pem(name) if kind_of(name) else hmac_signature())
        enc_value = encode(values[name], enc, indent)
        spans.append((name, length, length + len(enc_value)))
        out.append(enc_value)
        length += len(enc_value)
        pos = m.end()
    out.append(template[pos:])
    text = "".join(out)
    expected = []
    for name, start, end in spans:
        kind = kind_of(name)
        if kind is None:
            continue
        value = values[name]
        line = text.count("\n", 0, start) + 1
        column = start - (text.rfind("\n", 0, start) + 1) + 1
        end_line = text.count("\n", 0, len(text[:end].rstrip("\n"))) + 1
        if kind == "binance_private_key":
            fp, plain = fingerprint_of(pem_der(value)), None
        else:
            fp, plain = fingerprint_of(value), value
        first = next((e for e in expected if e.name == name), None) if plain is not None else None
        if first is not None:  # a key or secret repeated in the file: counted on its first finding
            first.count += 1
            continue
        expected.append(Expected(name, kind, fp, plain, line, end_line, column))
    return Rendered(path, text, expected)


def load_template(case: str) -> tuple[str, str]:
    files = [p for p in (FIXTURES / case).rglob("*.tmpl") if p.is_file()]
    assert len(files) == 1, f"fixtures/contexts/{case} must hold exactly one .tmpl file, found {files}"
    rel = files[0].relative_to(FIXTURES / case).as_posix()[: -len(".tmpl")]
    return files[0].read_text(encoding="utf-8"), rel


# -- the cases -------------------------------------------------------------------------------------

def utf8_bom(text: str) -> bytes:
    return b"\xef\xbb\xbf" + text.encode("utf-8")


def utf16(byteorder: str) -> Callable[[str], bytes]:
    def enc(text: str) -> bytes:
        bom = b"\xff\xfe" if byteorder == "le" else b"\xfe\xff"
        return bom + text.replace("\n", "\r\n").encode(f"utf-16-{byteorder}")
    return enc


@dataclass
class Case:
    id: str
    pairs: list[tuple[str, str]] = field(default_factory=list)
    template: str = ""  # fixtures/contexts/<template>; defaults to the id
    to_bytes: Callable[[str], bytes] = lambda t: t.encode("utf-8")
    confidence: str | None = None  # exact confidence every finding must have; None: at least medium

    def __post_init__(self) -> None:
        self.template = self.template or self.id


HMAC = [("KEY", "SECRET")]
HMAC2 = [("KEY", "SECRET"), ("KEY2", "SECRET2")]
CASES = [
    # python-binance, positional / keyword / async
    Case("py_binance_positional", HMAC),
    Case("py_binance_keyword", HMAC),
    Case("py_binance_async", HMAC),
    # binance-connector (Python): keyword, positional, self-generated Ed25519 key
    Case("py_connector_keyword", HMAC),
    Case("py_connector_positional", HMAC2),
    Case("py_connector_ed25519", [("KEY", "ED25519")]),
    # ccxt in Python (constructor dict, attribute assignment), JS and TS
    Case("py_ccxt_keyword", HMAC),
    Case("py_ccxt_attrs", HMAC),
    Case("js_ccxt", HMAC),
    Case("ts_ccxt", HMAC),
    # binance-connector-js positional and with an Ed25519 key; binance-api-node / node-binance-api
    Case("js_connector", HMAC),
    Case("js_connector_ed25519", [("KEY", "ED25519")]),
    Case("ts_node_binance", HMAC2),
    # Go and Java clients
    Case("go_client", HMAC2),
    Case("java_client", HMAC2),
    # shell, curl with X-MBX-APIKEY, request/response logs, URL query strings
    Case("shell_curl", HMAC2),
    Case("http_log"),
    Case("url_query", HMAC2),
    # .env files
    Case("env_plain", HMAC),
    Case("env_quoted", [("KEY", "SECRET")]),
    Case("env_export", HMAC),
    Case("env_empty"),
    Case("env_bom_utf8", HMAC, template="env_bom", to_bytes=utf8_bom),
    Case("env_utf16le", HMAC, template="env_utf16", to_bytes=utf16("le")),
    Case("env_utf16be", HMAC, template="env_utf16", to_bytes=utf16("be")),
    # configuration formats
    Case("json_freqtrade", HMAC),
    Case("json_accounts", [("KEY", "SECRET"), ("KEY2", "SECRET2"), ("KEY3", "ED25519")]),
    Case("yaml_config", [("KEY", "SECRET"), ("KEY2", "ED25519")]),
    Case("toml_config", [("KEY", "SECRET"), ("KEY2", "RSA_ENC")]),
    Case("ini_cfg", HMAC),
    Case("java_properties", HMAC2),
    Case("spring_yaml", HMAC),
    # containers and Kubernetes
    Case("compose_env", HMAC2),
    Case("k8s_secret", [("KEY", "SECRET"), ("KEY2", "SECRET2"), ("KEY3", "ED25519")]),
    Case("k8s_secret_neutral", HMAC),
    Case("helm_values", HMAC),
    # notebooks, Markdown
    Case("notebook", [("KEY", "SECRET"), ("KEY2", "SECRET2"), ("KEY3", "SECRET3"), ("KEY4", "RSA")]),
    Case("markdown", [("KEY", "SECRET"), ("KEY3", "SECRET3")]),
    # private keys in files of their own
    Case("pem_rsa_file"),
    Case("pem_encrypted_files"),
    # no Binance word anywhere: a neutral name, and a bare two-line credentials file
    Case("bare_neutral", confidence="low"),
    Case("bare_two_lines", HMAC),
]



def _describe(f: Finding) -> str:
    return f"{f.kind} line {f.line}-{f.end_line} col {f.column} ({f.confidence})"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_context_is_found(case: Case, engine: Engine) -> None:
    template, rel = load_template(case.template)
    r = render(template, rel, {})
    findings = [f for f in engine.scan_bytes(case.to_bytes(r.text), path=rel) if not f.example]

    by_pos = {(f.line, f.column): f for f in findings}
    assert len(by_pos) == len(findings), [_describe(f) for f in findings]
    unexpected = set(by_pos) - {(e.line, e.column) for e in r.expected}
    assert not unexpected, f"unexpected findings in {rel}: {[_describe(by_pos[p]) for p in sorted(unexpected)]}"

    got: dict[str, Finding] = {}
    for e in r.expected:
        f = by_pos.get((e.line, e.column))
        assert f is not None, f"{rel}: {e.name} ({e.kind}) at line {e.line} col {e.column} not found; " \
                              f"found {[_describe(f) for f in findings]}"
        assert (f.kind, f.line, f.end_line) == (e.kind, e.line, e.end_line), f"{rel}: {e.name}: {_describe(f)}"
        assert f.fingerprint == e.fingerprint, f"{rel}: {e.name}: wrong value"
        if e.value is not None:
            assert f.secret == e.value
        assert f.count == e.count, f"{rel}: {e.name}: found {f.count} time(s), expected {e.count}"
        if case.confidence is not None:
            assert f.confidence == case.confidence, f"{rel}: {e.name}: {_describe(f)}"
        else:
            assert f.confidence in ("medium", "high"), f"{rel}: {e.name}: {_describe(f)}"
        got[e.name] = f

    partner = {a: b for a, b in case.pairs} | {b: a for a, b in case.pairs}
    for e in r.expected:
        want = got[partner[e.name]].fingerprint if e.name in partner else None
        assert got[e.name].paired_with == want, f"{rel}: {e.name} paired with the wrong finding"


def test_every_fixture_is_used() -> None:
    """A template nobody renders is a context nobody tests."""
    used = {c.template for c in CASES}
    present = {p.name for p in FIXTURES.iterdir() if p.is_dir()}
    assert present == used


def test_templates_hold_no_secret() -> None:
    """The project scans itself: templates carry markers, never key-shaped values."""
    engine = build_engine(Config(), prefilter="regex")
    for p in FIXTURES.rglob("*.tmpl"):
        assert MARKER.search(p.read_text(encoding="utf-8")), p
        assert engine.scan_bytes(p.read_bytes(), path=str(p)) == [], p


def _skewed_key(lower: int, upper: int, digits: int) -> str:
    chars = ([secrets.choice(string.ascii_lowercase) for _ in range(lower)]
             + [secrets.choice(string.ascii_uppercase) for _ in range(upper)]
             + [secrets.choice(string.digits) for _ in range(digits)])
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


def _splice(key: str, word: str) -> str:
    at = secrets.randbelow(64 - len(word) - 8) + 4
    return key[:at] + word + key[at + len(word):]


def test_random_keys_of_any_letter_mix_are_found(engine: Engine) -> None:
    """Binance keys are uniformly random, so some are heavy in lower-case letters and some hold the
    letters of a placeholder word in mixed case: they are keys, not identifiers or placeholders."""
    keys = [_skewed_key(48, 12, 4) for _ in range(40)] + [_skewed_key(12, 48, 4) for _ in range(10)]
    keys += [_splice(new_key(), w) for w in ("fAkE", "sAmPlE", "eXaMpLe", "dUmMy", "xXxXxX", "yOuRkEy")]
    text = "".join(f"SLOT_{i} = '{k}'\n" for i, k in enumerate(keys))
    found = {(f.secret, f.line) for f in engine.scan_bytes(text.encode(), path="slots.py")}
    assert found == {(k, i) for i, k in enumerate(keys, 1)}


def test_binance_letters_inside_a_key_are_not_context(engine: Engine) -> None:
    """`bnb`/`mbx` inside a random key (or base64) is not a Binance word: a neutral file stays low
    confidence; a real mention such as a BNBUSDT symbol raises it."""
    key = _splice(new_key(), secrets.choice(["bNb", "BnB", "mBx", "MBX", "Binance"]))
    blob = base64.b64encode(b"\x6e\xd6\xcd" * 40).decode()  # base64 holding 'bnbN' over and over
    assert "bnb" in blob.lower()
    neutral = f'LOGO = "{blob}"\nACCOUNT_REF = "{key}"\n'
    assert [f.confidence for f in engine.scan_bytes(neutral.encode(), path="src/settings.py")] == ["low"]
    mention = f'SYMBOL = "BNBUSDT"\nACCOUNT_REF = "{key}"\n'
    assert [f.confidence for f in engine.scan_bytes(mention.encode(), path="src/settings.py")] == ["high"]

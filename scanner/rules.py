"""Rules as data: load rules/*.yaml (and user folders), validate them, and check their examples."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from collections.abc import Iterable

from scanner.errors import CexguardError
from scanner.models import (  # noqa: F401  (Rule and the default policies are part of this module's API)
    DEFAULT_NEUTRAL_CONFIDENCE,
    DEFAULT_PEM_CONFIDENCE,
    DEFAULT_TOKEN_CONFIDENCE,
    Rule,
)

RULE_KEYS = {
    "id", "kind", "type", "group", "role", "default", "description", "remediation", "pattern", "boundary",
    "length", "charset", "min_entropy", "name_hints", "keywords", "labels", "key_types", "examples",
    "negative_examples", "neutral", "reject_names", "hex_name_hints", "hex_reject_names", "hex_min_entropy",
    "other_exchanges", "environments", "key_file_names", "title", "revoke_hint", "verify", "pairs_with",
    "within_lines", "within_bytes", "confidence", "hex_confidence", "reasons", "hex_environments",
    "environment_words", "reject", "random", "distinct",
}
REQUIRED = {"id", "kind", "type", "description", "remediation", "examples", "negative_examples"}
TYPES = ("token", "pem")
CHARSETS = {"upper", "lower", "digit"}
LEVELS = ("high", "medium", "low")  # confidence levels, strongest first
# what a confidence condition may test (joined with '+': all must hold); `any` always holds
SIGNALS = {"any", "near", "infile", "intext", "named", "paired", "partner_named", "example", "key_file", "key_type"}
CONTEXT_SIGNALS = {"near", "infile", "intext", "paired", "example"}  # evidence beyond the value and its own name
REJECTS = {"hex"}  # value classes a rule can refuse outright
REASON_NAMES = {"paired", "key_file", "ed25519", "rsa", "encrypted"}  # why a neutral private key is reported
_VERIFIER = re.compile(r"[a-z][a-z0-9_]*")
_WORD = re.compile(r"[a-z0-9]+")
def builtin_rules_dir() -> Path:
    """rules/ ships inside the wheel as scanner/_rules; a source checkout uses the top-level rules/."""
    from scanner.resources import builtin_rules_dir as where

    return Path(where()).resolve()


def _str_list(v: Any, where: str) -> tuple[str, ...]:
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise CexguardError(f"{where}: expected a list of strings")
    return tuple(v)


def _regex_ok(p: str, where: str) -> None:
    # compiled as the engine embeds it, inside a group (and beside others): a global flag `(?i)` is an
    # error there, where a scoped one `(?i:...)` is not
    try:
        re.compile(f"(?:{p})")
    except re.error as e:
        hint = " (patterns are combined with others: use a scoped flag such as (?i:...))" if "global flags" in str(e) else ""
        raise CexguardError(f"{where}: bad regular expression {p!r}: {e}{hint}") from None


# -- rules from outside the package: linear time, and additions only ------------------------------
#
# Built-in rules are reviewed code. A rule from a `rules_dirs` folder may come from the scanned
# repository itself, so its regular expressions must run in linear time under Python's `re` (stage
# two runs every pattern through `re`, whatever the prefilter), and it may add detections but never
# change or suppress a built-in one.

MAX_REPEAT = 1024  # the largest repeat count a custom pattern may use
MAX_CHOICES = 256  # the product of (max - min + 1) over its variable-length repeats


def _sre() -> Any:
    try:
        import re._parser as sre_parse  # Python >= 3.11
    except ImportError:  # pragma: no cover
        import sre_parse  # type: ignore[no-redef]
    return sre_parse


def linear_time_problem(pattern: str) -> str | None:
    """Why `pattern` could make a backtracking regex engine take more than linear time, or None.

    Accepted: literals, classes, alternatives, groups, fixed-count repeats of anything without
    alternatives or variable parts, and bounded variable repeats (`{1,64}`, `?`) of one character
    (or class) whose choices multiply to at most MAX_CHOICES. Refused: unbounded repeats (`*`, `+`,
    `{n,}`), a variable repeat of a group (`(a+)+`, `(a|ab){1,9}`), backreferences, conditionals,
    quantifiers inside lookarounds."""
    sp = _sre()
    c = sp  # opcodes live in the parser module's namespace (re._constants)
    single = {c.LITERAL, c.NOT_LITERAL, c.IN, c.ANY, c.CATEGORY}
    repeats = {c.MAX_REPEAT, c.MIN_REPEAT} | ({c.POSSESSIVE_REPEAT} if hasattr(c, "POSSESSIVE_REPEAT") else set())
    try:
        parsed = sp.parse(pattern)
    except Exception as e:
        return f"bad regular expression: {e}"
    choices = [1]

    def has_choice(items: Any) -> bool:
        for op, av in items:
            if op == c.BRANCH or (op in repeats and av[0] != av[1]):
                return True
            sub = _children(op, av)
            if any(has_choice(x) for x in sub):
                return True
        return False

    def _children(op: Any, av: Any) -> list[Any]:
        if op in repeats:
            return [av[2]]
        if op == c.SUBPATTERN:
            return [av[-1]]
        if op == c.BRANCH:
            return list(av[1])
        if op in (c.ASSERT, c.ASSERT_NOT):
            return [av[1]]
        if hasattr(c, "ATOMIC_GROUP") and op == c.ATOMIC_GROUP:
            return [av]
        return []

    def walk(items: Any) -> str | None:
        for op, av in items:
            if op in (c.GROUPREF, c.GROUPREF_EXISTS):
                return "backreferences and conditionals are not allowed"
            if op in repeats:
                lo, hi, sub = av
                if hi == c.MAXREPEAT:
                    return "unbounded repeat (*, + or {n,}): use a bounded one such as {1,64}"
                if hi > MAX_REPEAT:
                    return f"repeat count over {MAX_REPEAT}"
                if lo != hi:
                    if not (len(sub) == 1 and sub[0][0] in single):
                        return "a variable-length repeat of a group (nested or ambiguous quantifiers such as (a+)+)"
                    choices[0] *= hi - lo + 1
                    if choices[0] > MAX_CHOICES:
                        return f"variable-length repeats allow more than {MAX_CHOICES} combinations"
                    continue
                if hi > 1 and has_choice(sub):
                    return "a repeated group with alternatives or variable-length parts"
            if op in (c.ASSERT, c.ASSERT_NOT) and any(o in repeats for o, _ in _flatten(av[1])):
                return "quantifiers inside a lookaround"
            for sub in _children(op, av):
                problem = walk(sub)
                if problem:
                    return problem
        return None

    def _flatten(items: Any) -> list[Any]:
        out = []
        for op, av in items:
            out.append((op, av))
            for sub in _children(op, av):
                out += _flatten(sub)
        return out

    return walk(parsed)


def _check_linear(r: Rule, where: str) -> None:
    parts = [("pattern", r.pattern)] if r.pattern else []
    parts += [("name_hints", h) for h in r.name_hints] + [("keywords", k) for k in r.keywords]
    for k in ("reject_names", "hex_name_hints", "hex_reject_names", "other_exchanges", "key_file_names"):
        parts += [(k, p) for p in getattr(r, k)]
    parts += [("environments", p) for _name, pats in r.environments for p in pats]
    if r.type == "token":
        parts.append(("boundary", f"[{r.boundary}]"))
        try:
            one = _sre().parse(f"[{r.boundary}]")
            if len(one) != 1 or one[0][0] != _sre().IN:
                raise ValueError
        except Exception:
            raise CexguardError(f"{where}: boundary must be the body of one character class, e.g. A-Za-z0-9") from None
    for name, p in parts:
        problem = linear_time_problem(p)
        if problem:
            raise CexguardError(f"{where}: {name} {p!r} refused: {problem} (rules from rules_dirs must run in "
                                "linear time)")


def parse_rule(d: Any, source: str) -> Rule:
    if not isinstance(d, dict):
        raise CexguardError(f"{source}: each rule must be a mapping")
    rid = d.get("id", "?")
    where = f"{source}: rule {rid}"
    unknown = set(d) - RULE_KEYS
    if unknown:
        raise CexguardError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    missing = REQUIRED - set(d)
    if missing:
        raise CexguardError(f"{where}: missing field(s) {', '.join(sorted(missing))}")
    if d["type"] not in TYPES:
        raise CexguardError(f"{where}: type must be one of {', '.join(TYPES)}")
    kw: dict[str, Any] = {}
    for k in ("name_hints", "keywords", "labels", "key_types", "examples", "negative_examples", "charset",
              "reject_names", "hex_name_hints", "hex_reject_names", "other_exchanges", "key_file_names"):
        if k in d:
            kw[k] = _str_list(d[k], f"{where}: {k}")
    for k in ("name_hints", "keywords", "reject_names", "hex_name_hints", "hex_reject_names", "other_exchanges",
              "key_file_names"):
        for p in kw.get(k, ()):
            _regex_ok(p, f"{where}: {k}")
    if "environments" in d:
        envs = d["environments"]
        if not isinstance(envs, dict) or not all(isinstance(k, str) for k in envs):
            raise CexguardError(f"{where}: environments must map a name to a list of patterns")
        kw["environments"] = tuple((k, _str_list(v, f"{where}: environments.{k}")) for k, v in envs.items())
        for _k, pats in kw["environments"]:
            for p in pats:
                _regex_ok(p, f"{where}: environments")
    for k in ("title", "revoke_hint", "verify"):
        if k in d and not isinstance(d[k], str):
            raise CexguardError(f"{where}: {k} must be a string")
    if d.get("verify") and not _VERIFIER.fullmatch(d["verify"]):
        raise CexguardError(f"{where}: verify must name a verifier (lower-case letters, digits, _)")
    if "pairs_with" in d:
        kw["pairs_with"] = _str_list(d["pairs_with"], f"{where}: pairs_with")
    for k in ("within_lines", "within_bytes"):
        if k in d:
            v = d[k]
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise CexguardError(f"{where}: {k} must be a non-negative integer")
            if not kw.get("pairs_with"):
                raise CexguardError(f"{where}: {k} needs pairs_with")
            kw[k] = v
    if "confidence" in d:
        kw["confidence"], kw["lower_in"] = _policy(d["confidence"], f"{where}: confidence", lower_in=True)
    if "hex_confidence" in d:
        kw["hex_confidence"], _ = _policy(d["hex_confidence"], f"{where}: hex_confidence", lower_in=False)
    if "reasons" in d:
        rs = d["reasons"]
        if not d.get("neutral"):
            raise CexguardError(f"{where}: reasons apply to neutral rules only")
        if not isinstance(rs, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in rs.items()):
            raise CexguardError(f"{where}: reasons must map a reason to a sentence")
        if set(rs) - REASON_NAMES:
            raise CexguardError(f"{where}: reasons must be among {', '.join(sorted(REASON_NAMES))}")
        kw["reasons"] = tuple((k, " ".join(v.split())) for k, v in rs.items())
    if "hex_environments" in d:
        he = d["hex_environments"]
        if not isinstance(he, dict) or set(he) - {"lower", "upper"} or not all(isinstance(v, str) for v in he.values()):
            raise CexguardError(f"{where}: hex_environments maps lower and/or upper to an environment name")
        kw["hex_environments"] = tuple(he.items())
    if "environment_words" in d:
        kw["environment_words"] = _str_list(d["environment_words"], f"{where}: environment_words")
        if not all(_WORD.fullmatch(w) for w in kw["environment_words"]):
            raise CexguardError(f"{where}: environment_words are lower-case words (letters and digits)")
    if "reject" in d:
        kw["reject"] = _str_list(d["reject"], f"{where}: reject")
        if set(kw["reject"]) - REJECTS:
            raise CexguardError(f"{where}: reject entries must be among {', '.join(sorted(REJECTS))}")
    for k in ("random", "distinct", "default", "neutral"):
        if k in d and not isinstance(d[k], bool):
            raise CexguardError(f"{where}: {k} must be true or false")
    if set(kw.get("charset", ())) - CHARSETS:
        raise CexguardError(f"{where}: charset entries must be among {', '.join(sorted(CHARSETS))}")
    if d["type"] == "token":
        if not isinstance(d.get("pattern"), str) or not d["pattern"]:
            raise CexguardError(f"{where}: token rules need a pattern")
        _regex_ok(d["pattern"], f"{where}: pattern")
        if not isinstance(d.get("length", 0), int):
            raise CexguardError(f"{where}: length must be an integer")
    if d["type"] == "pem" and not kw.get("labels"):
        raise CexguardError(f"{where}: pem rules need labels")
    me = d.get("min_entropy", 0.0)
    hme = d.get("hex_min_entropy", 0.0)
    if isinstance(me, bool) or not isinstance(me, (int, float)) or isinstance(hme, bool) or not isinstance(hme, (int, float)):
        raise CexguardError(f"{where}: min_entropy and hex_min_entropy must be numbers")
    for k in ("id", "kind", "description", "remediation", "group", "role", "boundary"):
        if k in d and not isinstance(d[k], str):
            raise CexguardError(f"{where}: {k} must be a string")
    rule = Rule(
        id=d["id"], kind=d["kind"], type=d["type"], description=" ".join(d["description"].split()),
        remediation=" ".join(d["remediation"].split()), group=d.get("group", d["id"]), role=d.get("role", "key"),
        default=bool(d.get("default", False)), pattern=d.get("pattern", ""), boundary=d.get("boundary", "A-Za-z0-9"),
        length=int(d.get("length", 0)), min_entropy=float(me), hex_min_entropy=float(hme),
        neutral=bool(d.get("neutral", False)), title=" ".join(d.get("title", "").split()),
        revoke_hint=" ".join(d.get("revoke_hint", "").split()), verify=d.get("verify", ""),
        random=d.get("random", True), distinct=d.get("distinct", False), source=source, **kw,
    )
    return rule


def _policy(v: Any, where: str, *, lower_in: bool) -> tuple[tuple[tuple[str, tuple[str, ...]], ...], tuple[str, ...]]:
    """A confidence policy: `{high: [COND, ...], medium: [...], low: [...]}` (each level optional), where
    COND is signals joined by '+' (`near+named`); with lower_in, also `lower_in: [ENV, ...]`."""
    keys = set(LEVELS) | ({"lower_in"} if lower_in else set())
    if not isinstance(v, dict) or set(v) - keys:
        raise CexguardError(f"{where}: a mapping of {', '.join(sorted(keys))}")
    levels = []
    for level in LEVELS:
        if level not in v:
            continue
        conds = _str_list(v[level], f"{where}.{level}")
        for c in conds:
            bad = set(c.split("+")) - SIGNALS
            if bad:
                raise CexguardError(f"{where}.{level}: unknown signal(s) {', '.join(sorted(bad))} in {c!r} "
                                    f"(known: {', '.join(sorted(SIGNALS))})")
        levels.append((level, conds))
    return tuple(levels), _str_list(v["lower_in"], f"{where}.lower_in") if "lower_in" in v else ()


def _check_context(r: Rule, where: str) -> None:
    """Short, hex or UUID-shaped values are reportable only with context (the exchange named near or in
    the file, or a pair): a condition without it is allowed only for long random values (40+ characters
    of three character classes) or a `distinct` pattern (a fixed prefix), never for all-hex values."""
    long_random = (r.length >= 40 and len(set(r.charset)) >= 3) or r.distinct
    for name, policy in (("confidence", r.confidence or DEFAULT_TOKEN_CONFIDENCE), ("hex_confidence", r.hex_confidence)):
        for _level, conds in policy:
            for c in conds:
                if set(c.split("+")) & CONTEXT_SIGNALS:
                    continue
                if name == "hex_confidence" or not long_random:
                    raise CexguardError(
                        f"{where}: {name} condition {c!r} reports a value with no context (the default policy "
                        "does): only 40+ character values of three character classes (length, charset: [upper, "
                        "lower, digit]) or a `distinct: true` pattern may; give the rule a confidence policy whose "
                        "conditions need near, infile or paired (see rules/SCHEMA.md)")


def _load_file(path: Path) -> tuple[list[Rule], list[str]]:
    import yaml

    from scanner.config import read_small_file

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    raw = read_small_file(path, "rule file")  # a symlink, FIFO or device is refused
    if raw is None:
        raise CexguardError(f"cannot read rule file {path}: No such file or directory")
    try:
        data = yaml.load(raw.decode("utf-8"), Loader=loader)
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CexguardError(f"bad rule file {path}: {first}") from None
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise CexguardError(f"bad rule file {path}: expected a top-level 'rules:' list")
    unknown = set(data) - {"rules", "documentation_examples"}
    if unknown:
        raise CexguardError(f"bad rule file {path}: unknown top-level key(s) {', '.join(sorted(unknown))}")
    return [parse_rule(r, str(path)) for r in data["rules"]], _examples(data.get("documentation_examples", []), path)


def _examples(items: Any, path: Path) -> list[str]:
    """Documentation example fingerprints. An entry is `{fingerprint: sha256:..., source: ...}` (the value's
    fingerprint, or a PEM key's: its DER body's), so the rule file carries no key; a plain string is a value."""
    from scanner.models import fingerprint_of

    where = f"{path}: documentation_examples"
    if not isinstance(items, list):
        raise CexguardError(f"{where}: expected a list")
    out = []
    for x in items:
        if isinstance(x, str):
            out.append(fingerprint_of(x))
        elif isinstance(x, dict) and isinstance(x.get("fingerprint"), str) and x["fingerprint"].startswith("sha256:"):
            out.append(x["fingerprint"])
        else:
            raise CexguardError(f"{where}: each entry is a value or a mapping with a sha256: fingerprint")
    return out


def load_rules(extra_dirs: Iterable[Path] = ()) -> list[Rule]:
    return load_rules_and_examples(extra_dirs)[0]


def _cache_file(files: list[Path]) -> Path | None:
    """A cache of parsed rules keyed by the rule files' paths, sizes and mtimes: the pre-commit hook
    then skips importing and running the YAML parser."""
    import hashlib
    import os

    from scanner import __version__

    base = os.environ.get("CEXGUARD_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "cexguard")
    h = hashlib.sha256(__version__.encode())
    from scanner import models

    for schema in (Path(__file__), Path(models.__file__)):  # a changed schema parses the same files otherwise
        st = schema.stat()
        h.update(f"{st.st_size}\0{st.st_mtime_ns}\0".encode())
    for f in files:
        st = f.lstat()
        h.update(f"{f.resolve()}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    return Path(base) / f"rules-{h.hexdigest()[:24]}.json"


def _rule_files(dirs: list[Path]) -> list[Path]:
    files: list[Path] = []
    for d in dirs:
        if not d.is_dir():
            raise CexguardError(f"rules folder not found: {d}")
        files.extend(sorted(d.glob("*.y*ml")))
    return files


def _tuples(v: Any) -> Any:
    return tuple(_tuples(x) for x in v) if isinstance(v, list) else v


def load_rules_and_examples(extra_dirs: Iterable[Path] = ()) -> tuple[list[Rule], list[str]]:
    """All rules (built-in first, then the user's folders) and the documentation example values."""
    rules, examples, _notices = load_rules_full(extra_dirs)
    return rules, examples


def load_rules_full(extra_dirs: Iterable[Path] = ()) -> tuple[list[Rule], list[str], list[str]]:
    """Rules, documentation examples (from the built-in rules only), and one-line notices about
    what was ignored in the extra folders (their documentation examples; a rule that would change
    a built-in one)."""
    import json

    files = _rule_files([builtin_rules_dir(), *(Path(d) for d in extra_dirs)])
    cache = None
    try:
        cache = _cache_file(files)
        if cache is None:
            raise OSError
        with open(cache, encoding="utf-8") as fh:
            doc = json.load(fh)
        rules = [Rule(**{k: _tuples(v) for k, v in r.items()}) for r in doc["rules"]]
        return rules, list(doc["examples"]), list(doc["notices"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    rules, examples, notices = _load_uncached(files)
    if cache is not None:
        try:
            import os
            import tempfile

            cache.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=cache.parent, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({"rules": [r.to_dict() for r in rules], "examples": examples,
                           "notices": notices}, fh)
            os.replace(tmp, cache)
        except OSError:
            pass
    return rules, examples, notices


def _load_uncached(files: list[Path]) -> tuple[list[Rule], list[str], list[str]]:
    rules: list[Rule] = []
    examples: list[str] = []
    notices: list[str] = []
    builtin = builtin_rules_dir().resolve()
    tokens: set[tuple[str, str, int]] = set()
    labels: set[tuple[str, str]] = set()  # (PEM label, key type) a built-in rule takes
    for f in files:
        rs, ex = _load_file(f)
        if f.resolve().parent == builtin:
            rules.extend(rs)
            examples.extend(ex)
            tokens |= {(r.pattern, r.boundary, r.length) for r in rs if r.type == "token"}
            labels |= {(lab, kt) for r in rs if r.type == "pem" for lab in r.labels for kt in r.key_types}
            continue
        if ex:
            notices.append(f"{f}: {len(ex)} documentation_examples ignored (documentation examples come from "
                           "the built-in rules only)")
        for r in rs:
            _check_linear(r, f"{f}: rule {r.id}")
            same = (r.type == "token" and (r.pattern, r.boundary, r.length) in tokens) or \
                (r.type == "pem" and any((lab, kt) in labels for lab in r.labels for kt in r.key_types))
            if same:
                notices.append(f"{f}: rule {r.id} ignored: it matches what a built-in rule matches, and extra rules "
                               "may add detections, never change built-in ones")
                continue
            rules.append(r)
    seen: set[str] = set()
    for r in rules:
        if r.id in seen:
            raise CexguardError(f"duplicate rule id {r.id} ({r.source})")
        seen.add(r.id)
    for r in rules:
        if r.type == "token":
            _check_context(r, f"{r.source}: rule {r.id}")
        unknown = [p for p in r.pairs_with if p not in seen]
        if unknown:
            raise CexguardError(f"{r.source}: rule {r.id}: pairs_with names unknown rule(s) {', '.join(unknown)}")
    if not rules:
        raise CexguardError("no rules loaded")
    return rules, examples, notices


def build_engine(config: Any, *, prefilter: str = "auto") -> Any:
    """The engine for a config: its rules (built-in, then `rules_dirs`) and documentation examples,
    compiled. The one place that joins loading and matching: the engine itself never reads a file."""
    from scanner.engine import Engine

    rules, examples = load_rules_and_examples(config.rules_dirs)
    return Engine(rules, examples=examples, min_entropy=config.min_entropy, prefilter=prefilter)

"""Exit codes and statuses, in one place (README's tables say the same; tests/test_status.py checks).

On the pre-commit hook's path (reporting.py uses ExitCode): only `enum`, which `re` has already
imported by then.
"""
from __future__ import annotations

from enum import Enum, IntEnum


class ExitCode(IntEnum):
    """What every `cexguard` command exits with."""

    OK = 0  # no findings, or the command succeeded
    FINDINGS = 1  # findings reported; verify: live; revoke: failed; activity: events; incident: steps left
    ERROR = 2  # bad usage or input, output not written, internal error: one line on stderr
    NO_VERDICT = 3  # verify: unknown, not_verifiable
    INCOMPLETE = 4  # nothing found, but objects or files could not be read: never a silent clean
    REFUSED = 5  # verify: rejected, wrong_secret (refused, not proven dead)
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)
    TERMINATED = 143  # SIGTERM (128 + SIGTERM)


class VerifyStatus(str, Enum):
    """`cexguard verify`'s verdict on a key."""

    LIVE = "live"
    LIVE_IP_RESTRICTED = "live_ip_restricted"
    REJECTED = "rejected"
    WRONG_SECRET = "wrong_secret"
    DELETED = "deleted"
    MALFORMED = "malformed"
    UNKNOWN = "unknown"
    NOT_VERIFIABLE = "not_verifiable"  # cexguard has no verifier for this exchange

    def __str__(self) -> str:
        return self.value


class RevokeStatus(str, Enum):
    """`cexguard revoke`'s outcome."""

    REVOKED = "revoked"
    ALREADY_REVOKED = "already_revoked"
    DRY_RUN = "dry_run"
    FAILED = "failed"
    NOT_REVOCABLE = "not_revocable"

    def __str__(self) -> str:
        return self.value


class Reach(str, Enum):
    """What holds a blob a history audit found (GitProvenance.reachable, the JSON's `reachable`)."""

    REFS = "refs"  # a branch, tag, remote or stash
    REFLOG = "reflog"  # only reflog entries
    INDEX = "index"  # only the index: staged, never committed
    UNREACHABLE = "unreachable"  # nothing: still in the object store

    def __str__(self) -> str:
        return self.value


# keyed by the status's text (what results and JSON carry)
VERIFY_EXIT: dict[str, ExitCode] = {
    VerifyStatus.LIVE.value: ExitCode.FINDINGS, VerifyStatus.LIVE_IP_RESTRICTED.value: ExitCode.FINDINGS,
    VerifyStatus.DELETED.value: ExitCode.OK, VerifyStatus.MALFORMED.value: ExitCode.OK,
    VerifyStatus.REJECTED.value: ExitCode.REFUSED, VerifyStatus.WRONG_SECRET.value: ExitCode.REFUSED,
    VerifyStatus.UNKNOWN.value: ExitCode.NO_VERDICT, VerifyStatus.NOT_VERIFIABLE.value: ExitCode.NO_VERDICT,
}
REVOKE_EXIT: dict[str, ExitCode] = {
    RevokeStatus.REVOKED.value: ExitCode.OK, RevokeStatus.ALREADY_REVOKED.value: ExitCode.OK,
    RevokeStatus.DRY_RUN.value: ExitCode.OK, RevokeStatus.FAILED.value: ExitCode.FINDINGS,
    RevokeStatus.NOT_REVOCABLE.value: ExitCode.FINDINGS,
}

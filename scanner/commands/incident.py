"""`cexguard incident`: one leaked key's record, from the reports cexguard already wrote."""
from __future__ import annotations

import json
import os
from pathlib import Path

import click


@click.command()
@click.option("--key", "key_fp", default=None, metavar="FINGERPRINT",
              help="The key's fingerprint (sha256:...); default: BINANCE_API_KEY's, or the one the reports name.")
@click.option("--history-report", "history_report", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="Where it leaked: cexguard history --format json.")
@click.option("--verification", "verifications", type=click.Path(dir_okay=False), multiple=True, metavar="FILE",
              help="cexguard verify --format json (repeatable: before and after revoking).")
@click.option("--activity", "activity_file", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="What the key did: cexguard activity --format json.")
@click.option("--audit-log", "audit_log", type=click.Path(dir_okay=False), default=None, envvar="CEXGUARD_AUDIT_LOG",
              help="The revoke audit log (default as for revoke; also CEXGUARD_AUDIT_LOG).")
@click.option("--replacement", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="cexguard verify --format json of the NEW key (checks: no withdrawals, IP whitelist).")
@click.option("--format", "fmt", type=click.Choice(["md", "html", "json"]), default="md", show_default=True,
              help="md to paste or forward, html for one self-contained file, json for tools.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="Write the report to FILE.")
def incident(*, key_fp: str | None, history_report: str | None, verifications: tuple[str, ...],
             activity_file: str | None, audit_log: str | None, replacement: str | None, fmt: str,
             output: str | None) -> int:
    """The record of one leaked key: where it leaked, the verdict, what it did,
    the revocation, and the playbook steps done and left.

    \b
    Nothing is sent to Binance: the record joins what cexguard already wrote down.
    Secrets are never copied into it (keys redacted and by fingerprint).

    \b
    Exit codes:
      0  every playbook step is done (the incident is closed)
      1  steps are left (or cannot be confirmed from the inputs)
      2  error: unreadable input, reports about another key
    """
    from scanner.remote.exposure import load_report
    from scanner.remote.incident import (
        Inputs,
        build_incident,
        load_activity,
        load_verification,
        render_md,
        resolve_fingerprint,
    )
    from scanner.remote.revoke import default_audit_path, read_audit_log

    verified = [load_verification(v) for v in verifications]
    act = load_activity(activity_file) if activity_file else None
    new_key = load_verification(replacement) if replacement else None
    fp = resolve_fingerprint(key_fp, os.environ.get("BINANCE_API_KEY"), verified + ([act] if act else []))
    report = load_report(history_report, what="--history-report") if history_report else None
    log_path = Path(audit_log).expanduser() if audit_log else default_audit_path()
    inc = build_incident(Inputs(fingerprint=fp, report=report, report_name=Path(history_report).name if history_report
                                else None, verifications=verified, activity=act,
                                audit=read_audit_log(log_path, fp), audit_path=str(log_path), replacement=new_key))
    if fmt == "json":
        text = json.dumps(inc, indent=2, ensure_ascii=True) + "\n"
    elif fmt == "html":
        from scanner.report.incident_html import render_html

        text = render_html(inc)
    else:
        text = render_md(inc)
    if output:
        from scanner.atomic import write_atomic

        write_atomic(output, text, what="report")
    else:
        from scanner.clikit import write_out

        write_out(text)
    from scanner.status import ExitCode

    return ExitCode.OK if inc["status"] == "closed" else ExitCode.FINDINGS

"""JUnit XML for CI test dashboards: one failing testcase per finding, one passing testcase when clean.

Valid against the Jenkins xUnit plugin's JUnit schema (junit-10.xsd, the Ant/Surefire format that
Jenkins, GitLab and most dashboards read): a testcase has no `file`/`line` attributes there, so
the location is in the test name, the failure message and its text."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from scanner.models import Finding, ScanResult
from scanner.safetext import safe

# characters XML 1.0 cannot hold (control characters in odd file names)
_BAD_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _x(s: object) -> str:
    return _BAD_XML.sub("?", str(s))


def _details(f: Finding, result: ScanResult, show_secrets: bool) -> str:
    value = f.secret if show_secrets else f.redacted
    lines = [f"{safe(f.path)}:{f.line}:{f.column}  {result.title(f)} ({f.kind})  confidence {f.confidence}",
             f"value: {value}", f"fingerprint: {f.fingerprint}"]
    g = f.git
    if g is not None and g.mapped:
        fields: tuple[tuple[str, object], ...] = (
            ("commit", g.commit), ("author", g.author), ("date", g.date), ("exposure", g.exposure),
            ("present_at_head", g.present_at_head), ("reachable", g.reachable))
        for key, v in fields:
            if v is not None:
                lines.append(f"{key}: {safe(v)}")
    if g is not None and g.refs:
        lines.append("refs: " + ", ".join(safe(r) for r in g.refs))
    if f.paired_with:
        lines.append(f"paired with: {f.paired_with}")
    rule = result.rule(f.rule)
    if rule is not None and rule.remediation:
        lines.append(f"remediation: {rule.remediation}")
    return "\n".join(lines)


def render(result: ScanResult, *, show_secrets: bool = False, color: bool = False) -> str:
    n = len(result.findings)
    s = result.stats
    errors = 1 if s.incomplete else 0
    cases = max(n, 1) + errors
    suites = ET.Element("testsuites", name="cexguard", tests=str(cases), failures=str(n), errors=str(errors))
    suite = ET.SubElement(suites, "testsuite", name="cexguard", tests=str(cases), failures=str(n),
                          errors=str(errors), skipped="0")
    if s.incomplete:  # an erroring test case: a scan that could not read everything is not a pass
        case = ET.SubElement(suite, "testcase", classname="cexguard", name="every object and file was read")
        err = ET.SubElement(case, "error", type="incomplete", message=_x(s.incomplete_note()))
        err.text = _x("\n".join(s.unreadable_lines()))
    if not result.findings:
        s = result.stats
        ET.SubElement(suite, "testcase", classname="cexguard", name="no credentials found")
        ET.SubElement(suite, "system-out").text = _x(f"{s.files_scanned} file(s) scanned")
    for f in result.findings:
        case = ET.SubElement(suite, "testcase", classname=_x(f"cexguard.{f.rule}"),
                             name=_x(f"{safe(f.path)}:{f.line} {f.kind} {f.fingerprint[:19]}"))
        failure = ET.SubElement(case, "failure", type=f.kind,
                                message=_x(f"{result.title(f)} ({f.kind}) in {safe(f.path)}:{f.line}"))
        failure.text = _x(_details(f, result, show_secrets))
    from scanner.report import notices

    if notices(result):
        ET.SubElement(suite, "system-err").text = _x("\n".join(f"notice: {n}" for n in notices(result)))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"

"""JUnit XML, which CI systems show as test results: one test suite per file, one failing test
case per finding (named after the rule), and a single passing case when there are no findings."""

from __future__ import annotations

from collections.abc import Sequence
from xml.etree import ElementTree

from dlsan.lint.finding import LintFinding
from dlsan.report.context import RenderContext
from dlsan.report.text import location


def render(findings: Sequence[LintFinding], context: RenderContext) -> str:
    root = ElementTree.Element("testsuites", name="dlsan", tests=str(max(1, len(findings))),
                               failures=str(len(findings)), errors="0")
    by_path: dict[str, list[LintFinding]] = {}
    for finding in findings:
        by_path.setdefault(finding.path, []).append(finding)
    if not by_path:
        suite = ElementTree.SubElement(root, "testsuite", name="dlsan", tests="1", failures="0", errors="0")
        ElementTree.SubElement(suite, "testcase", name="No findings", classname="dlsan")
    for path, found in by_path.items():
        suite = ElementTree.SubElement(root, "testsuite", name=path, tests=str(len(found)),
                                       failures=str(len(found)), errors="0")
        for f in found:
            case = ElementTree.SubElement(suite, "testcase", name=f"dlsan.{f.code}", classname=path,
                                          file=path, line=str(context.sources.file_line(f)))
            failure = ElementTree.SubElement(case, "failure", message=f.message, type=f.name)
            failure.text = f"{location(f)}: {f.code} {f.message}"
    ElementTree.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root, encoding="unicode") + "\n"

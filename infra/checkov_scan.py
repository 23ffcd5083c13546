"""checkov, an independent IaC scanner, on the packaged template, with the findings the project accepts.

cfn-lint says the template is valid CloudFormation; checkov says where it falls
short of common security practice (encryption, logging, retention). Every
finding on the dev and prod templates is either fixed in the template or
explained in infra/checkov-skips.yaml, as the cfn-lint exceptions are in
tests/integration/test_packaging.py: `make test` fails on any other finding,
and on an explanation that no longer explains anything
(tests/integration/test_cfn_checkov.py). `make checkov STAGE=prod` prints them.

checkov pins its own boto3, networkx and packaging, which the app's venv cannot
share (boto3 above all), so it runs from a venv of its own: .venv-checkov,
built by make from requirements-checkov.txt. It runs offline (--skip-download).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

import yaml  # type: ignore[import-untyped]  # PyYAML ships no type information (cfn-lint brings it)

from infra.stage import PROJECT_DIR

CHECKOV = Path(os.environ.get("CHECKOV", PROJECT_DIR / ".venv-checkov" / "bin" / "checkov"))
SKIPS = PROJECT_DIR / "infra" / "checkov-skips.yaml"
STAGES = ("dev", "prod")


@dataclass(frozen=True)
class Finding:
    check: str  # CKV_AWS_27
    resource: str  # the template's logical id
    name: str  # what the check asks for

    def __str__(self) -> str:
        return f"{self.check} {self.resource}: {self.name}"


@dataclass(frozen=True)
class Skip:
    """An accepted finding: the check, the logical ids it covers (fnmatch patterns), the stages (all: empty)."""
    check: str
    resources: tuple[str, ...]
    reason: str
    stages: tuple[str, ...] = ()

    def explains(self, finding: Finding, stage: str) -> bool:
        return (finding.check == self.check and (not self.stages or stage in self.stages)
                and any(fnmatchcase(finding.resource, pattern) for pattern in self.resources))


def load_skips(path: Path = SKIPS) -> list[Skip]:
    skips = []
    for entry in yaml.safe_load(path.read_text()) or []:
        unknown = set(entry) - {"check", "resources", "reason", "stages"}
        if unknown or not str(entry.get("reason", "")).strip() or not entry.get("resources"):
            raise SystemExit(f"{path.name}: {entry.get('check')!r} needs a check, resources and a reason "
                             f"(and nothing else: {sorted(unknown)})")
        skips.append(Skip(entry["check"], tuple(entry["resources"]), " ".join(entry["reason"].split()),
                          tuple(entry.get("stages", ()))))
    return skips


def scan(template: Path) -> list[Finding]:
    """checkov's failed checks on one template (CloudFormation, which includes SAM)."""
    if not CHECKOV.exists():
        raise SystemExit(f"{CHECKOV} is missing: `make test` and `make checkov` build .venv-checkov "
                         "from requirements-checkov.txt")
    result = subprocess.run([str(CHECKOV), "--file", str(template), "--framework", "cloudformation",
                             "--output", "json", "--quiet", "--compact", "--skip-download"],
                            capture_output=True, text=True, timeout=600, cwd=template.parent,
                            env={**os.environ, "LOG_LEVEL": "WARNING"})
    if result.returncode not in (0, 1):  # 1: findings; anything else: checkov itself failed
        raise SystemExit(f"checkov failed ({result.returncode}): {result.stderr[-2000:]}")
    reports = json.loads(result.stdout)
    found = []
    for report in reports if isinstance(reports, list) else [reports]:
        if report.get("summary", {}).get("parsing_errors"):
            raise SystemExit(f"checkov could not parse {template}")
        for failed in report.get("results", {}).get("failed_checks", []):
            found.append(Finding(failed["check_id"], failed["resource"].split(".", 1)[1], failed["check_name"]))
    return sorted(set(found), key=str)


def unexplained(findings: list[Finding], stage: str, skips: list[Skip]) -> list[Finding]:
    return [f for f in findings if not any(skip.explains(f, stage) for skip in skips)]


def stale(findings: dict[str, list[Finding]], skips: list[Skip]) -> list[Skip]:
    """Explanations that explain no finding of any scanned stage: the finding they were for is gone."""
    return [skip for skip in skips
            if not any(skip.explains(f, stage) for stage, found in findings.items() for f in found)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.checkov_scan", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", action="append", help=f"stage(s) to package and scan; default {STAGES}")
    args = parser.parse_args(argv)
    from infra.__main__ import load_app
    from infra.package import package
    from infra.stage import Stage
    skips, findings, failures = load_skips(), {}, 0
    for name in args.stage or STAGES:
        stage = Stage.load(name)
        with tempfile.TemporaryDirectory() as out:
            findings[name] = scan(package(stage, load_app(stage), Path(out)))
        left = unexplained(findings[name], name, skips)
        print(f"{name}: {len(findings[name])} findings, {len(findings[name]) - len(left)} explained in "
              f"{SKIPS.relative_to(PROJECT_DIR)}, {len(left)} not")
        for finding in left:
            print(f"  {finding}")
        failures += len(left)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

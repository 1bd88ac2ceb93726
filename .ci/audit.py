"""make audit: look up every pinned requirement in PyPI's vulnerability records (pip-audit).

A known vulnerability fails the audit. Where the records cannot be reached (a machine that
sees only a package mirror), pip-audit skips each package; this says so plainly, names how
many were not audited, and exits 0 without calling that a pass.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PIP_AUDIT = Path(sys.executable).parent / "pip-audit"


def main(requirements: list[str]) -> int:
    command = [str(PIP_AUDIT), "--no-deps", "--disable-pip", "--progress-spinner", "off"]
    command += [arg for name in requirements for arg in ("--requirement", name)]
    run = subprocess.run(
        [*command, "--format", "json"], capture_output=True, text=True, check=False
    )
    try:
        report = json.loads(run.stdout)
    except ValueError:
        print(f"make audit: pip-audit gave no report (exit {run.returncode}):")
        print(run.stderr[-2000:])
        return 1
    packages = report["dependencies"]
    skipped = [package for package in packages if "skip_reason" in package]
    vulnerable = [package for package in packages if package.get("vulns")]
    for package in vulnerable:
        for vuln in package["vulns"]:
            fixed = ", ".join(vuln.get("fix_versions") or ()) or "no fix yet"
            print(f"VULNERABLE {package['name']} {package['version']}: {vuln['id']} ({fixed})")
    audited = len(packages) - len(skipped)
    if skipped:
        print(
            f"make audit: NOT AUDITED: {len(skipped)} of {len(packages)} pinned packages could "
            f"not be looked up ({skipped[0]['skip_reason'].split(':')[0]}); the vulnerability "
            "records are out of reach from this machine, so nothing is known about them."
        )
    if vulnerable:
        print(f"make audit: FAILED: {len(vulnerable)} packages have known vulnerabilities.")
        return 1
    if audited:
        print(f"make audit: {audited} packages looked up, no known vulnerabilities.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Time the report-wide disclosure decisions and attacker's audit on the default data,
and count the cells each report suppresses table by table and for the whole report.

Builds every report on the default data into a temporary folder (``rpc-eval report
--force``) and reads each report's ``<report>_NOT_FOR_PUBLICATION/disclosure_audit.json``.

    python benchmarks/bench_disclosure_audit.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import write_result

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    data = ROOT / "synthetic_data" / "default"
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "rpc_eval.cli", "report", "--data", str(data),
                        "--out", out, "--force", "--quiet"], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
        build = time.perf_counter() - t0
        reports = {p.parent.name.removesuffix("_NOT_FOR_PUBLICATION"):
                   json.loads(p.read_text(encoding="utf-8"))
                   for p in sorted(Path(out).glob("*_NOT_FOR_PUBLICATION/"
                                                  "disclosure_audit.json"))}
    for name, r in reports.items():
        print(f"{name}: {r['cells_suppressed_table_by_table']} cells suppressed table by "
              f"table, {r['cells_suppressed']} for the whole report; audit "
              f"{r['seconds']:.2f} s in {r['audit_rounds']} round(s)")
    print(f"all reports built in {build:.0f} s")
    write_result("disclosure_audit", {"build_all_reports_s": build, "reports": reports})


if __name__ == "__main__":
    main()

"""Benchmark: intake on hostile or careless files stays fast and small, or refuses in words.

Each case is built here, then loaded in a fresh Python process (so its peak memory is
its own); the time and peak resident memory of the load are recorded with what intake
said. Writes ``results/intake_limits.json``.

Cases:

- ``csv_100k_columns``: parents.csv with 60 rows and 100,000 extra empty-named columns;
- ``xlsx_full_grid_dimension``: a 60-parent workbook whose sheets claim the used range
  A1:XFD1048576;
- ``xlsx_huge_shared_string``: a workbook whose one shared text is 400 MB (about 400 KB
  zipped);
- ``yaml_alias_bomb``: a 10-level "billion laughs" YAML file in the data's codebooks/;
- ``csv_national``: the national synthetic dataset (for the cost per cell read).

    python benchmarks/bench_intake_limits.py
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: E402

LAS = "la_code,la_name,region\nLA001,Northtown,north_east\n"
HEADER = ("parent_id,family_id,la_code,intervention,delivery_mode,relationship_status,"
          "referral_date,start_date,exit_date,exit_reason")


def _parent_rows(n: int = 60) -> list[str]:
    return [f"P{i:03d},F{i:03d},LA001,parents_plus_pws,online,separated,2023-01-05,"
            "2023-01-20,2023-03-01,completed" for i in range(1, n + 1)]


def csv_100k_columns(folder: Path) -> Path:
    folder.mkdir()
    (folder / "las.csv").write_text(LAS)
    extra = 100_000
    head = HEADER + "," + ",".join(f"x{i}" for i in range(extra))
    body = [r + "," * extra for r in _parent_rows()]
    (folder / "parents.csv").write_text("\n".join([head, *body]) + "\n")
    return folder


def _workbook(folder: Path) -> Path:
    import openpyxl

    folder.mkdir()
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "las"
    for line in LAS.strip().split("\n"):
        ws.append(line.split(","))
    ps = wb.create_sheet("parents")
    for line in [HEADER, *_parent_rows()]:
        ps.append(line.split(","))
    path = folder / "data.xlsx"
    wb.save(path)
    return path


def _rewrite(path: Path, edit) -> None:
    src = path.with_suffix(".orig.xlsx")
    path.rename(src)
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            edit(info.filename, data, zout)
    src.unlink()


def xlsx_full_grid_dimension(folder: Path) -> Path:
    path = _workbook(folder)

    def edit(name, data, zout):
        if name.startswith("xl/worksheets/sheet"):
            data = re.sub(rb'<dimension ref="[^"]*"\s*/>', b'<dimension ref="A1:XFD1048576"/>',
                          data)
        zout.writestr(name, data)
    _rewrite(path, edit)
    return path


def xlsx_huge_shared_string(folder: Path, megabytes: int = 400) -> Path:
    """The workbook with cell B2 of the las sheet pointing to one shared text of
    ``megabytes`` MB (openpyxl writes inline text, so the shared-strings part is added)."""
    path = _workbook(folder)
    ns = b"http://schemas.openxmlformats.org/spreadsheetml/2006/main"

    def edit(name, data, zout):
        if name == "xl/worksheets/sheet1.xml":
            data = re.sub(rb'<c r="B2" t="inlineStr"><is><t>[^<]*</t></is></c>',
                          b'<c r="B2" t="s"><v>0</v></c>', data)
        elif name == "xl/_rels/workbook.xml.rels":
            data = data.replace(b"</Relationships>", (
                b'<Relationship Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                b'relationships/sharedStrings" Target="sharedStrings.xml" Id="rId99"/>'
                b"</Relationships>"))
        elif name == "[Content_Types].xml":
            data = data.replace(b"</Types>", (
                b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
                b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
                b"</Types>"))
        zout.writestr(name, data)
    _rewrite(path, edit)
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as zout:
        with zout.open("xl/sharedStrings.xml", "w", force_zip64=True) as fh:
            fh.write(b'<sst xmlns="' + ns + b'" count="1" uniqueCount="1"><si><t>')
            block = b"A" * (1 << 20)
            for _ in range(megabytes):
                fh.write(block)
            fh.write(b"</t></si></sst>")
    return path


def yaml_alias_bomb(folder: Path) -> Path:
    folder.mkdir()
    (folder / "las.csv").write_text(LAS)
    (folder / "parents.csv").write_text("\n".join([HEADER, *_parent_rows()]) + "\n")
    books = folder / "codebooks"
    books.mkdir()
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    lines += ["name: regions", "codes:", "  - {code: x, label: *a9}"]
    (books / "bomb.yaml").write_text("\n".join(lines) + "\n")
    return folder


def csv_national(folder: Path) -> Path:
    from rpc_eval.data import write
    from rpc_eval.synthetic import generate

    data, _ = generate("national", seed=20240601)
    write(data, folder)
    return folder


CHILD = r"""
import json, resource, sys, time, warnings
from rpc_eval.data import load
from rpc_eval.errors import DataValidationError, DataQualityWarning
t0 = time.perf_counter()
try:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        data = load(sys.argv[1], today="2024-06-01")
    log = data.intake_log
    said = {"outcome": "loaded", "errors": log.n_errors, "warnings": log.n_warnings,
            "rows_read": int(log.tables["rows_read"].sum()),
            "first_warning": next(iter(log.problems.loc[log.problems["severity"] == "warning",
                                                        "problem"]), "")[:200]}
except DataValidationError as exc:
    said = {"outcome": "refused", "problem": exc.problems[0].problem[:300]}
seconds = time.perf_counter() - t0
said["seconds"] = round(seconds, 2)
said["peak_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
print(json.dumps(said))
"""


def run_case(path: Path, timeout: int = 600) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True,
                         text=True, timeout=timeout)
    if out.returncode:
        return {"outcome": "crashed", "stderr": out.stderr[-2000:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    cases = {"csv_100k_columns": csv_100k_columns,
             "xlsx_full_grid_dimension": xlsx_full_grid_dimension,
             "xlsx_huge_shared_string": xlsx_huge_shared_string,
             "yaml_alias_bomb": yaml_alias_bomb}
    if "--national" in sys.argv:
        cases["csv_national"] = csv_national
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, build in cases.items():
            path = build(Path(tmp) / name)
            size = (sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
                    if path.is_dir() else path.stat().st_size)
            results[name] = {"input_bytes": size, **run_case(path)}
            print(name, json.dumps(results[name]), flush=True)
    write_result("intake_limits", {"cases": results})


if __name__ == "__main__":
    main()

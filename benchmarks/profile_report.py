"""Profile building every report: where the time of ``rpc-eval report`` goes.

The dataset is read and checked first (into the build's cache, as ``rpc-eval report``
does before the notebooks run). Each report notebook's code cells are run in this process (as the notebook kernel runs
them, with the same parameters and the build's dataset cache) under pyinstrument, one
profile per report, then the runner's own work (kernel start, saving the notebook, the
HTML page) is timed with a notebook of one empty cell. The text profiles are written to
``results/report_<scale>_profile_<label>.txt``.

    python benchmarks/profile_report.py DATA OUT [--label before] [--scale national]

``OUT`` is a reports folder whose ``.cache`` holds (or will hold) the dataset.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

from _common import RESULTS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PLANS = ("interim_report_v1", "final_report_v1", "regional_evaluation_template_v1")


def _cells(plan_path: Path, data: Path, out: Path) -> list[str]:
    import jupytext

    from rpc_eval.plan import load_plan

    plan = load_plan(plan_path)
    nb = jupytext.read(plan.notebook_path)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    kind = plan["data"].get("kind", "evaluation")
    params = (f"plan_path = {str(plan_path)!r}\n"
              f"data_path = {str(data) if kind == 'evaluation' else None!r}\n"
              f"out_dir = {str(out / plan.name)!r}\n")
    return [params if "plan_path =" in c and "out_dir =" in c else c for c in code]


def _kernel_overhead() -> float:
    """Seconds papermill takes to start a kernel, run one empty cell and stop it."""
    import nbformat
    import papermill

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1")]
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python",
                                 "name": "python3"}
    t0 = time.perf_counter()
    papermill.execute_notebook(nb, None, kernel_name="python3", progress_bar=False,
                               log_output=False)
    return time.perf_counter() - t0


def main() -> None:
    from pyinstrument import Profiler

    from rpc_eval.data.cache import use_cache

    args = sys.argv[1:]
    label, scale = "before", "national"
    for flag in ("--label", "--scale"):
        if flag in args:
            i = args.index(flag)
            if flag == "--label":
                label = args[i + 1]
            else:
                scale = args[i + 1]
            del args[i:i + 2]
    data, out = Path(args[0]).resolve(), Path(args[1]).resolve()
    os.chdir(ROOT)
    parts, totals = [], {}
    with use_cache(out / ".cache"):
        from rpc_eval.data import load

        t0 = time.perf_counter()
        load(data)  # as the build's data check does first: the reports read the cache
        totals["data check (cached for the reports)"] = time.perf_counter() - t0
        for name in PLANS:
            cells = _cells(ROOT / "analysis_plans" / f"{name}.yaml", data, out)
            ns: dict = {"__name__": "__main__"}
            prof = Profiler(interval=0.005)
            t0 = time.perf_counter()
            prof.start()
            for c in cells:
                exec(compile(c, f"<{name}>", "exec"), ns)  # noqa: S102 - the project's notebook
            prof.stop()
            totals[name] = time.perf_counter() - t0
            parts.append(f"===== {name}: {totals[name]:.1f} s (cells run in-process)\n"
                         + prof.output_text(unicode=False, color=False, show_all=False))
    kernel = _kernel_overhead()
    head = (f"Report build profile ({scale} data, label {label})\n"
            + "".join(f"  {n}: {s:.1f} s\n" for n, s in totals.items())
            + f"  kernel start + one cell + stop (papermill): {kernel:.1f} s per report\n\n")
    path = RESULTS / f"report_{scale}_profile_{label}.txt"
    path.write_text(head + "\n".join(parts), encoding="utf-8")
    print(head)


if __name__ == "__main__":
    main()

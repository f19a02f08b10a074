"""``adaptive-batch report``: an HTML page with plots for one run or several overlaid."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Sequence

from ..errors import UserError
from .data import RunView, coverage_curve, load_run


def write_report(run_dirs: Sequence[str | Path], out_dir: str | Path | None = None,
                 self_contained: bool = False) -> Path:
    """Write ``report.html``, its PNGs and ``curves.json``; returns the HTML's path.

    ``self_contained`` puts the images inside the HTML (data URIs): one file to mail or attach."""
    from .html import render, summary_json
    from .plots import write_plots

    if not run_dirs:
        raise UserError("report needs at least one run directory")
    runs = [load_run(d) for d in run_dirs]
    out = Path(out_dir) if out_dir else runs[0].run_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    figures = write_plots(runs, out)
    if self_contained:
        figures = {key: "data:image/png;base64," + base64.b64encode((out / name).read_bytes()).decode("ascii")
                   for key, name in figures.items()}
    page = out / "report.html"
    page.write_text(render(runs, figures), encoding="utf-8")
    (out / "curves.json").write_text(summary_json(runs) + "\n", encoding="utf-8")
    return page


__all__ = ["RunView", "coverage_curve", "load_run", "write_report"]

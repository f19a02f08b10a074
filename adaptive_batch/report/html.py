"""The report page: one self-contained HTML file (inline CSS and JS) with its PNGs beside it."""

from __future__ import annotations

import html
import json
from typing import Sequence

from ..costs import format_amount, in_unit
from .data import RunView, engine_breakdown, samples_by_query

STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px auto; max-width: 1400px; color: #222; }
h1 { font-size: 1.6em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.9em; margin: 8px 0; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; cursor: pointer; user-select: none; }
th.sorted-asc::after { content: " \\25B2"; } th.sorted-desc::after { content: " \\25BC"; }
img { max-width: 100%; border: 1px solid #eee; margin: 6px 0; }
.pass { color: #0a7a2f; font-weight: 600; } .fail { color: #b42318; } .vote { color: #555; }
pre { white-space: pre-wrap; margin: 0; font-size: 0.9em; }
details { margin: 4px 0; } summary { cursor: pointer; }
.kind { color: #555; font-size: 0.9em; }
"""

# Click a header to sort by it; numbers sort as numbers.
SCRIPT = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('th').forEach(function (th, col) {
    th.addEventListener('click', function () {
      var body = table.tBodies[0], rows = Array.from(body.rows);
      var asc = !th.classList.contains('sorted-asc');
      table.querySelectorAll('th').forEach(function (h) { h.classList.remove('sorted-asc', 'sorted-desc'); });
      th.classList.add(asc ? 'sorted-asc' : 'sorted-desc');
      rows.sort(function (a, b) {
        var x = a.cells[col].dataset.v, y = b.cells[col].dataset.v;
        var nx = parseFloat(x), ny = parseFloat(y);
        var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
        return asc ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""


def _e(value) -> str:
    return html.escape("" if value is None else str(value))


def _cell(value, shown=None) -> str:
    return f'<td data-v="{_e(value)}">{shown if shown is not None else _e(value)}</td>'


def render(runs: Sequence[RunView], figures: dict[str, str]) -> str:
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>adaptive-batch report</title>"
             f"<style>{STYLE}</style></head><body>",
             "<h1>adaptive-batch report</h1>", _overview(runs), _estimates(runs), _prompt_kinds(runs), _engines(runs)]
    titles = {"coverage": "Coverage against compute", "samples_hist": "Samples per query",
              "resolutions": "Resolutions and pool growth", "demos": "Most used demonstrations"}
    for key, title in titles.items():
        if key in figures:
            parts.append(f"<h2>{title}</h2><img src='{_e(figures[key])}' alt='{_e(title)}'>")
    for index, view in enumerate(runs):
        parts.append(_queries(view, index))
    parts.append(f"<script>{SCRIPT}</script></body></html>")
    return "\n".join(parts)


def _overview(runs: Sequence[RunView]) -> str:
    head = ["run", "method", "queries", "coverage", "kind of coverage", "samples", "budget", "prompt tokens",
            "of them cached", "generated tokens", "FLOPs", "cost ($)", "wall time (s)", "model", "status"]
    rows = []
    for view in runs:
        s = view.summary
        compute, budget = s.get("compute") or {}, s.get("budget") or {}
        unit = budget.get("unit", "samples")
        shown_budget = s.get("budget_samples") if unit == "samples" else (
            f"{format_amount(budget['spent'], unit)} of {in_unit(budget['total'], unit)}")
        values = [view.run_dir.name, s.get("method"), s.get("n_queries"), f"{s.get('coverage', 0):.3f}",
                  s.get("coverage_kind"), s.get("samples"), shown_budget, s.get("prompt_tokens"),
                  _share(compute), s.get("completion_tokens"), _sci(compute.get("flops")),
                  _sci(compute.get("cost_usd")), s.get("wall_time_s"), s.get("model"), s.get("status")]
        rows.append("<tr>" + "".join(_cell(v) for v in values) + "</tr>")
    return ("<h2>Runs</h2><table class='sortable'><thead><tr>" + "".join(f"<th>{h}</th>" for h in head)
            + "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def _estimates(runs: Sequence[RunView]) -> str:
    """pass@k and maj@k from the warm-up (and from ``score``, where a label-free run was scored):
    figures that do not depend on the budget or the method, each with what produced it."""
    rows = []
    for view in runs:
        scored = {name: {**figure, "produced_by": f"{figure.get('produced_by', '')} (references given to score)"}
                  for name, figure in ((view.score or {}).get("estimates") or {}).items()}
        for name, figure in {**(view.summary.get("estimates") or {}), **scored}.items():
            rows.append("<tr>" + "".join(_cell(v) for v in (
                view.run_dir.name, name, f"{figure['value']:.3f}", f"[{figure['ci95'][0]:.3f}, {figure['ci95'][1]:.3f}]",
                figure["queries"], figure.get("produced_by", ""))) + "</tr>")
    if not rows:
        return ""
    head = ["run", "estimate", "value", "95% interval", "queries", "produced by"]
    return ("<h2>Estimates comparable night to night</h2><table class='sortable'><thead><tr>"
            + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def _prompt_kinds(runs: Sequence[RunView]) -> str:
    """The adaptive samples by the kind of prompt that drew them: whether demonstrations raised the
    pass rate over the base prompt, and what share of their prompt tokens the engine's cache served."""
    rows = []
    for view in runs:
        for kind, k in sorted((view.summary.get("prompt_kinds") or {}).items()):
            share = k.get("cached_share")
            rows.append("<tr>" + "".join(_cell(v) for v in (
                view.run_dir.name, kind, k["samples"], k["passed"], f"{k['passed'] / k['samples']:.3f}" if k["samples"] else "",
                "" if share is None else f"{100 * share:.0f}%")) + "</tr>")
    if not rows:
        return ""
    head = ["run", "kind of prompt", "adaptive samples", "passed", "pass rate", "prompt tokens from cache"]
    return ("<h2>Adaptive samples by kind of prompt</h2><p class='kind'>Kinds drawn later draw harder queries "
            "(the easy ones are resolved by then).</p><table class='sortable'><thead><tr>"
            + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def _engines(runs: Sequence[RunView]) -> str:
    """Runs with escalation: where the compute went, engine by engine."""
    rows = []
    for view in runs:
        breakdown = engine_breakdown(view)
        for e in breakdown if len(breakdown) > 1 else ():
            rows.append("<tr>" + "".join(_cell(v) for v in (
                view.run_dir.name, e["engine"], e["model"], e["samples"], e["prompt_tokens"], e["cached_tokens"],
                e["completion_tokens"], _sci(e["flops"]), e["passing_samples"], e["queries_resolved_first"])) + "</tr>")
    if not rows:
        return ""
    head = ["run", "engine", "model", "samples", "prompt tokens", "of them cached", "generated tokens", "FLOPs",
            "passing samples", "queries it resolved first"]
    return ("<h2>Where the compute went (escalation)</h2><p class='kind'>FLOPs at each engine's own parameter "
            "count: 2 x parameters x (uncached prompt + generated tokens).</p><table class='sortable'><thead><tr>"
            + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def _share(compute: dict) -> str:
    if "cached_prompt_tokens" not in compute:
        return ""  # a run from before cached tokens were counted
    return f"{compute['cached_prompt_tokens']} ({100 * compute['prompt_cache_share']:.0f}%)"


def _sci(value) -> str:
    return "" if value is None else f"{value:.4g}"


def _verdict(passed) -> str:
    if passed is None:
        return "<span class='vote'>vote</span>"
    return "<span class='pass'>pass</span>" if passed else "<span class='fail'>fail</span>"


def _queries(view: RunView, index: int) -> str:
    by_query = samples_by_query(view)
    head = ["id", "resolved", "final answer", "samples", "prompt tokens", "generated tokens", "resolved in",
            "demonstrations used", "error"]
    rows = []
    for r in view.results:
        anchor = f"r{index}-{_e(r['id'])}"
        where = f"{r['resolved_phase']} round {r['resolved_round']}" if r["resolved"] else ""
        rows.append(
            "<tr>" + _cell(r["id"], f"<a href='#{anchor}'>{_e(r['id'])}</a>")
            + _cell(int(r["resolved"]), "yes" if r["resolved"] else "no") + _cell(r["final_answer"])
            + _cell(r["samples"]) + _cell(r["prompt_tokens"]) + _cell(r["completion_tokens"])
            + _cell(r["resolved_round"] if r["resolved"] else "", _e(where))
            + _cell(len(r["demo_ids"]), _e(", ".join(r["demo_ids"][:6]) + (" ..." if len(r["demo_ids"]) > 6 else "")))
            + _cell(r["error"]) + "</tr>"
        )
    details = []
    for r in view.results:
        samples = by_query.get(r["id"], [])
        lines = "".join(
            f"<tr><td>{s['sample_index']}</td><td>{_e(s['phase'])} {s['round']}</td><td>{_e(s['answer'])}</td>"
            f"<td>{_verdict(s['passed'])}</td><td>{_e(', '.join(s['demo_ids']))}</td>"
            f"<td><pre>{_e(s['text'])}</pre></td></tr>"
            for s in samples
        )
        details.append(
            f"<details id='r{index}-{_e(r['id'])}'><summary>{_e(r['id'])}: {len(samples)} samples, "
            f"{'resolved' if r['resolved'] else 'unresolved'}</summary><table><thead><tr><th>#</th><th>phase, round</th>"
            f"<th>answer</th><th>verdict</th><th>demonstrations</th><th>text</th></tr></thead><tbody>{lines}"
            "</tbody></table></details>"
        )
    return (f"<h2>Queries of {_e(view.name)}</h2><p class='kind'>Click a column to sort; click an id for its "
            "samples.</p><table class='sortable'><thead><tr>" + "".join(f"<th>{h}</th>" for h in head)
            + "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
            + f"<h3>Samples</h3>{''.join(details)}"
            + "<script>if (location.hash) { var d = document.getElementById(location.hash.slice(1));"
            " if (d && d.tagName === 'DETAILS') d.open = true; }"
            " document.querySelectorAll('a[href^=\"#\"]').forEach(function (a) { a.addEventListener('click',"
            " function () { var d = document.getElementById(a.getAttribute('href').slice(1));"
            " if (d) d.open = true; }); });</script>")


def summary_json(runs: Sequence[RunView]) -> str:
    return json.dumps([{"run_dir": str(v.run_dir), "coverage": v.summary.get("coverage"), "curve": v.curve}
                       for v in runs], indent=2)

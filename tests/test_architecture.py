"""The layers depend one way: core <- retrieval <- phases <- run <- cli.

core is ``adaptive_batch``'s records, config, costs, errors and registry; the run layer is the rest of
``adaptive_batch`` (backends, verifiers, prompts, the run machinery, outputs); the CLI is
``adaptive_batch.cli`` and ``python -m adaptive_batch``. Read from the source with ``ast``, so nothing is imported to check it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = {"adaptive_batch.records", "adaptive_batch.config", "adaptive_batch.config_fields", "adaptive_batch.costs",
        "adaptive_batch.config_retrieval", "adaptive_batch.errors",
        "adaptive_batch.registry"}
LAYERS = {"core": 0, "retrieval": 1, "phases": 2, "run": 3, "cli": 4}
HEAVY = {"torch", "faiss", "llama_cpp", "sentence_transformers", "vllm"}
# The modules that need a heavy library may import it where they like.
NEEDS_HEAVY = {"retrieval.index", "retrieval.embedder", "adaptive_batch.backends.llamacpp",
               "adaptive_batch.backends.llamacpp_batched", "adaptive_batch.backends.vllm_offline"}


def modules() -> dict[str, Path]:
    found = {}
    for package in ("adaptive_batch", "phases", "retrieval"):
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def layer(module: str) -> str:
    if module.startswith("retrieval"):
        return "retrieval"
    if module.startswith("phases"):
        return "phases"
    if module in CORE:
        return "core"
    if module.startswith("adaptive_batch.cli") or module == "adaptive_batch.__main__":
        return "cli"
    return "run"


def imports(name: str, path: Path) -> list[tuple[str, bool]]:
    """(imported module, at module level?) for every import in the file."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    top = {id(node) for node in tree.body} | {id(n) for node in tree.body if isinstance(node, (ast.If, ast.Try))
                                              for n in ast.walk(node)}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(alias.name, id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [f"{target}.{alias.name}" for alias in node.names]
            known = modules()
            out += [(n if n in known else target, id(node) in top) for n in names]
    return out


def project_edges():
    known = modules()
    for name, path in known.items():
        for target, module_level in imports(name, path):
            if target.split(".")[0] in ("adaptive_batch", "phases", "retrieval") and target != "adaptive_batch":
                yield name, target, module_level


def test_no_layer_imports_a_layer_above_it():
    upward = [(a, b) for a, b, _ in project_edges() if LAYERS[layer(b)] > LAYERS[layer(a)]]
    assert upward == []


def test_retrieval_and_phases_stay_below_the_run_machinery():
    edges = list(project_edges())
    assert [(a, b) for a, b, _ in edges if a.startswith("retrieval") and layer(b) not in ("core", "retrieval")] == []
    assert [(a, b) for a, b, _ in edges if a.startswith("phases") and layer(b) not in ("core", "retrieval", "phases")] == []


def test_heavy_libraries_are_imported_at_module_level_only_where_needed():
    offenders = []
    for name, path in modules().items():
        for target, module_level in imports(name, path):
            if target.split(".")[0] in HEAVY and module_level and name not in NEEDS_HEAVY:
                offenders.append((name, target))
    assert offenders == []


def test_every_layer_imports_on_its_own_in_a_fresh_interpreter():
    """No import order trips over a cycle, and none of them loads a heavy engine."""
    for module in ("phases", "retrieval", "adaptive_batch.config", "phases.state", "adaptive_batch.runner",
                   "adaptive_batch.cli"):
        code = (f"import sys, {module}; "
                f"print(sorted(m for m in {sorted(HEAVY)!r} if m in sys.modules))")
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
        assert proc.returncode == 0 and proc.stdout.strip() == "[]", (module, proc.stderr[-500:])


def test_the_cli_app_holds_every_command_on_import():
    code = "from adaptive_batch.cli import app; print(sorted(c.name for c in app.registered_commands))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.stdout.split() and eval(proc.stdout) == sorted(
        ["run", "config", "cache-clear", "verify", "score", "export", "report", "inspect", "learn", "list", "compare", "tasks",
             "plugins"])

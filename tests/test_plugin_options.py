"""Each plugin's own options: declared once on its options class, flags under the plugin's name,
shown for the selected plugins only, validated against that plugin, and older run directories
(whose config kept them in the core sections) still resume."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from adaptive_batch import RunConfig, run
from adaptive_batch.backends import create_backend
from adaptive_batch.config_file import upgrade_saved_config
from adaptive_batch.errors import ConfigError, PluginContractError
from adaptive_batch.registry import Plugin, Registry

SIMULATED = ["--backend", "simulated", "--embedder", "hashing"]


def cli(*args):
    return subprocess.run([sys.executable, "-m", "adaptive_batch", *map(str, args)], capture_output=True, text=True,
                          env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"})


def flags_in(help_text: str) -> set[str]:
    return {word.strip("│,") for line in help_text.splitlines() for word in line.split() if word.startswith("--")}


def test_help_shows_the_selected_plugins_options_and_no_others():
    default = flags_in(cli("run", "--help").stdout)
    assert {"--llamacpp-n-ctx", "--llamacpp-chunk", "--reference-tolerance"} <= default
    assert not {f for f in default if f.startswith(("--openai-", "--consistency-", "--simulated-"))}
    chosen = cli("run", "--backend", "openai", "--verifier=consistency", "--help").stdout
    assert "Options of the openai backend" in chosen and "Options of the consistency verifier" in chosen
    flags = flags_in(chosen)
    assert {"--openai-base-urls", "--openai-concurrency", "--consistency-min-votes"} <= flags
    assert not {f for f in flags if f.startswith(("--llamacpp-", "--reference-"))}


def test_an_option_of_a_plugin_the_run_does_not_use_is_exit_2_naming_the_plugin(tmp_path):
    proc = cli("config", tmp_path / "q.jsonl", "--openai-concurrency", "3")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert ("--openai-concurrency is an option of the openai backend, but this run's backend is llamacpp (add "
            "--backend openai)") in " ".join(proc.stderr.split())


def test_flags_land_in_the_plugins_options_table_and_round_trip_through_toml(tmp_path):
    shown = cli("config", tmp_path / "q.jsonl", "--backend", "openai", "--openai-base-urls", "http://a/v1",
                "--openai-base-urls", "http://b/v1", "--openai-extra-body", '{"repeat_penalty": 1.0}',
                "--openai-omit-top-k", "--verifier", "consistency", "--consistency-stopping", "beta")
    assert shown.returncode == 0, shown.stderr
    toml = tmp_path / "run.toml"
    toml.write_text(shown.stdout)
    config = RunConfig.from_dict(__import__("tomllib").loads(shown.stdout))
    assert dict(config.backend.options) == {"base_urls": ["http://a/v1", "http://b/v1"],
                                            "extra_body": {"repeat_penalty": 1.0}, "omit_top_k": True}
    assert dict(config.verifier.options) == {"stopping": "beta"}
    assert cli("config", "--config", toml).stdout == shown.stdout


def test_an_unknown_or_invalid_plugin_option_is_an_error_naming_the_plugin():
    with pytest.raises(ConfigError, match=r"unknown key\(s\) in backend simulated options: bost \(did you mean boost\?\)"):
        create_backend(name="simulated", options={"bost": 0.5})
    with pytest.raises(ConfigError, match="slots must be >= 1, got 0"):
        create_backend(name="simulated", options={"slots": 0})
    with pytest.raises(ConfigError, match=r"backend simulated options.slots must be int"):
        create_backend(name="simulated", options={"slots": "8"})


def test_a_plugin_registered_without_its_plugin_declaration_is_refused():
    registry = Registry("backend", "adaptive_batch.no-such-group")
    registry.register("bare", lambda config: None)
    with pytest.raises(PluginContractError, match="not an adaptive_batch.registry.Plugin"):
        registry.plugin("bare")
    registry.register("declared", Plugin(lambda config, options: None))
    assert registry.build_options("declared", {}) is not None


def test_plugins_lists_every_kind_and_shows_one_plugins_options():
    listing = cli("plugins").stdout
    for name in ("llamacpp", "openai", "consistency", "expression", "sentence-transformers", "gsm8k"):
        assert name in listing
    shown = cli("plugins", "consistency")
    assert shown.returncode == 0 and "--consistency-min-votes" in shown.stdout and "threshold" in shown.stdout
    missing = cli("plugins", "nope")
    assert missing.returncode == 2 and "no backend or verifier named 'nope'" in missing.stderr


def test_a_run_directory_written_before_plugin_options_still_resumes(synthetic, tmp_path):
    """Its run.json kept n_ctx and the consistency settings in the backend and verifier sections."""
    data, out = synthetic(8), tmp_path / "run"
    config = RunConfig.from_dict({"data": {"path": str(data)}, "schedule": {"budget": 3, "warmup": 1},
                                  "backend": {"name": "simulated", "options": {"boost": 0.5}},
                                  "verifier": {"name": "consistency", "options": {"min_votes": 2}},
                                  "retrieval": {"embedder": "hashing"}, "output_dir": str(out)})
    first = run(config)
    manifest = json.loads((out / "run.json").read_text())
    old = manifest["config"]
    old["backend"] = {"name": "simulated", "model": None, "parameters": None, "options": {"boost": 0.5},
                      "n_ctx": 2048, "n_threads": None, "base_urls": [], "api_key_env": "OPENAI_API_KEY",
                      "concurrency": 8, "request_timeout": 120.0, "max_retries": 5}
    old["verifier"] = {"name": "consistency", "extractor": "expression", "timeout": 10.0, "options": {},
                       "tolerance": 1e-6, "min_votes": 2, "min_share": 0.5, "stopping": "threshold",
                       "confidence": 0.95, "max_votes": 40, "command": None, "memory_mb": 1024}
    del old["escalation"]["options"]
    (out / "run.json").write_text(json.dumps(manifest))
    upgraded = upgrade_saved_config(old)["verifier"]["options"]
    assert upgraded["min_votes"] == 2 and upgraded["stopping"] == "threshold"  # complete, at the defaults
    log = (out / "samples.jsonl").read_text().splitlines(keepends=True)
    (out / "samples.jsonl").write_text("".join(log[:5]))  # killed after five samples
    (out / "summary.json").unlink()
    again = run(config)
    assert again.summary["samples_replayed_from_log"] == 5
    assert again.summary["samples_generated"] == first.summary["samples"] - 5
    assert again.coverage == first.coverage


def test_a_changed_plugin_default_shows_on_resume_instead_of_silently_changing_the_run(synthetic, tmp_path):
    """run.json keeps every option a plugin ran with. A run directory from before the Beta rule's default
    confidence went from 0.95 to 0.8 (its options table held only what was given) ran at 0.95: resumed
    as is, it is refused, naming the setting; with --consistency-confidence 0.95 it resumes."""
    from adaptive_batch.errors import ResumeMismatchError

    data, out = synthetic(8), tmp_path / "run"

    def config(**options):
        return RunConfig.from_dict({"data": {"path": str(data)}, "schedule": {"budget": 3, "warmup": 1},
                                    "backend": {"name": "simulated"}, "retrieval": {"embedder": "hashing"},
                                    "verifier": {"name": "consistency", "options": {"stopping": "beta", **options}},
                                    "output_dir": str(out)})

    first = run(config(confidence=0.95))
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["config"]["verifier"]["options"]["max_votes"] == 40  # complete, not only what was given
    manifest["config"]["verifier"]["options"] = {"stopping": "beta"}  # as the older version wrote it
    manifest["config"]["escalation"]["cost_weight"] = 4.0  # the weight's old default, escalation off
    (out / "run.json").write_text(json.dumps(manifest))
    (out / "summary.json").unlink()
    with pytest.raises(ResumeMismatchError, match=r"config.verifier.options.confidence was 0.95, now 0.8"):
        run(config())
    again = run(config(confidence=0.95))
    assert again.summary["samples_generated"] == 0 and again.coverage == first.coverage

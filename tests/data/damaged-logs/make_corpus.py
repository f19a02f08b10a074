"""Writes the damaged-log corpus beside this file from a deterministic reference run.

    python tests/data/damaged-logs/make_corpus.py

The reference is the run ``reference_config`` describes (simulated backend, hashing embedder,
12 synthetic queries): it is the same on every machine, so ``tests/test_damaged_logs.py`` can make
it again and check that the corpus's intact lines are its lines. Each case is one damaged file and
what a run must say of it (``cases.json``; ``{run}`` stands for the run directory).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from adaptive_batch import RunConfig, run  # noqa: E402
from adaptive_batch.backends.simulated import synthetic_queries  # noqa: E402

LINE = 6  # the damaged line, 1-based: five intact records come before it
HINT = "Run the same command with --repair to keep the 5 records before it and generate the rest again."


def reference_config(data: Path, out: Path) -> RunConfig:
    return RunConfig.from_dict({
        "data": {"path": str(data)}, "output_dir": str(out), "seed": 0,
        # retire_after 0, similarity order and no base-prompt turns: the corpus was made before any was the
        # default, and a run this small retires, orders its demonstrations and draws base turns.
        "backend": {"name": "simulated"},
        "retrieval": {"embedder": "hashing", "retire_after": 0, "demo_order": "similarity", "base_every": 0},
        "schedule": {"budget": 3, "warmup": 1},
    })


def write_data(path: Path) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in synthetic_queries(12, 0, 6)), encoding="utf-8")
    return path


def damaged_line_cases(lines: list[bytes]) -> dict[str, tuple[bytes, str]]:
    """Log files whose line 6 is damaged, each with the reason the loader must give."""
    offset = sum(len(line) for line in lines[: LINE - 1])
    head, rest = b"".join(lines[: LINE - 1]), b"".join(lines[LINE - 1:])
    wrong_type = json.loads(lines[LINE - 1])
    wrong_type["sample_index"] = str(wrong_type["sample_index"])
    cut = lines[LINE - 1][: len(lines[LINE - 1]) // 2] + b"\n"
    cases = {
        "garbage-line": (head + b"this is not a sample\n" + rest, "not valid JSON (Expecting value at column 1)"),
        "invalid-utf8": (head + b"\xff\xfe\x00\x80garbage\n" + rest,
                         "not valid UTF-8 (invalid start byte at byte 0 of the line)"),
        "wrong-fields": (head + b'{"query_id": "syn-3", "sample": 1}\n' + rest,
                         "not a sample record: unknown field(s) sample; missing field(s) answer, completion_tokens, "
                         "demo_ids, finish_reason, passed, phase, prompt_tokens, round, sample_index, seed, text"),
        "wrong-type": (head + (json.dumps(wrong_type) + "\n").encode() + b"".join(lines[LINE:]),
                       f"field 'sample_index' holds str \"{wrong_type['sample_index']}\""),
        "cut-mid-file": (head + cut + b"".join(lines[LINE:]), None),
        "empty-line": (head + b"\n" + rest, "an empty line"),
    }
    out = {}
    for name, (content, reason) in cases.items():
        if reason is None:  # the loader's own words for a cut JSON line
            try:
                json.loads(cut[:-1])  # the loader reads the line without its newline
            except json.JSONDecodeError as exc:
                reason = f"not valid JSON ({exc.msg} at column {exc.colno})"
        out[name] = (content, f"{{run}}/samples.jsonl: line {LINE} (byte {offset}) is damaged: {reason}. {HINT}")
    return out


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        reference = Path(tmp) / "reference"
        run(reference_config(write_data(Path(tmp) / "data.jsonl"), reference))
        lines = (reference / "samples.jsonl").read_bytes().splitlines(keepends=True)
    cases: dict[str, dict] = {}
    for name, (content, message) in damaged_line_cases(lines).items():
        (HERE / f"{name}.jsonl").write_bytes(content)
        cases[name] = {"file": "samples.jsonl", "source": f"{name}.jsonl", "exit": 2, "message": message,
                       "kept": LINE - 1}
    fine = {  # damage that loses nothing: the run goes on, identical to the reference
        "duplicate-record": (b"".join(lines[:LINE]) + lines[LINE - 1] + b"".join(lines[LINE:]),
                             "{run}/samples.jsonl: 1 duplicate record(s) collapsed"),
        "torn-tail": (b"".join(lines[:10]) + lines[10][:40], None),
    }
    for name, (content, warning) in fine.items():
        (HERE / f"{name}.jsonl").write_bytes(content)
        cases[name] = {"file": "samples.jsonl", "source": f"{name}.jsonl", "exit": 0, "warning": warning}
    pending_warning = ("{run}/pending-round.json is damaged (%s) and was discarded: its samples will be generated "
                       "again")
    pendings = {
        "pending-not-json": (b'{"3f2a": {"text": " 1 + ', "not valid JSON (Unterminated string starting at: "
                             "line 1 column 19 (char 18))"),
        "pending-not-an-object": (b'[["3f2a", " 1 + 2"]]', "a JSON list, not an object"),
        "pending-wrong-entry": (b'{"3f2a": {"text": 7, "prompt_tokens": "many"}}', "entry 3f2a is not a completion"),
    }
    (HERE / "log-head.jsonl").write_bytes(b"".join(lines[:10]))
    for name, (content, why) in pendings.items():
        (HERE / f"{name}.json").write_bytes(content)
        cases[name] = {"file": "pending-round.json", "source": f"{name}.json", "log": "log-head.jsonl", "exit": 0,
                       "warning": pending_warning % why}
    (HERE / "run-json-damaged.json").write_bytes(b'{"config": {"data": ')
    cases["run-json-damaged"] = {
        "file": "run.json", "source": "run-json-damaged.json", "log": "log-head.jsonl", "exit": 2,
        "message": "{run}/run.json is damaged (Expecting value: line 1 column 21 (char 20)). Run the same command "
                   "with --repair to write it again from this command's settings (only if this directory really "
                   "holds this run).",
        "kept": 10,
    }
    cases["run-json-missing"] = {
        "file": "run.json", "source": None, "log": "log-head.jsonl", "exit": 2,
        "message": "{run}/samples.jsonl exists but {run}/run.json is missing, so what run it belongs to is unknown. "
                   "Run the same command with --repair to adopt the log for this command's settings (only if it "
                   "really is this run).",
        "kept": 10,
    }
    (HERE / "cases.json").write_text(json.dumps(cases, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

"""A user's own program as the verifier.

For each response the program is started once, gets one JSON object on stdin::

    {"id": ..., "question": ..., "response": ..., "answer": <extracted or null>, "extra": {...}}

(plus ``"reference"`` when ``--external-send-reference`` is given, which makes
the run oracle-verified) and must print one JSON object on stdout::

    {"passed": true, "score": 0.7, "answer": "42", "detail": "..."}

(only ``passed`` is required). The program runs in
its own process group with the verifier timeout; a crash, a timeout or an unreadable answer stops
the run with a message saying which, and everything verified before is kept for a resume.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
from dataclasses import dataclass
from typing import Any, Optional

from ..config_fields import PluginOptions, doc
from ..errors import ConfigError, VerifierError
from ..records import Query, Verdict
from ..registry import Plugin, extractors
from .base import VerifierBase, as_extractor

_STDERR_TAIL = 600


class ExternalVerifier(VerifierBase):
    def __init__(self, command: str, timeout_s: float = 10.0, extractor: Optional[str] = "expression",
                 send_reference: bool = False):
        self.argv = shlex.split(command)
        if not self.argv:
            raise ConfigError("the external verifier needs --external-command, e.g. 'python check.py'")
        self.command = command
        self.timeout_s = timeout_s
        self._extract = as_extractor(extractors.get(extractor)) if extractor else None
        self.canonical = self._extract.canonical if self._extract else None
        self.send_reference = send_reference
        self.needs_reference = send_reference
        self.label = f"external program ({command})" + (", with reference answers" if send_reference else "")

    def __call__(self, query: Query, response: str) -> Verdict:
        payload: dict[str, Any] = {
            "id": query.id,
            "question": query.question,
            "response": response,
            "answer": self._extract(response) if self._extract else None,
            "extra": query.extra,
        }
        if self.send_reference:
            payload["reference"] = query.answer
        where = f"external verifier `{self.command}` on query '{query.id}'"
        try:
            process = subprocess.Popen(
                self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                start_new_session=True, text=True,
            )
        except OSError as exc:
            raise VerifierError(f"{where}: cannot start it: {exc.strerror or exc}") from None
        try:
            out, err = process.communicate(json.dumps(payload), timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            raise VerifierError(f"{where}: no answer within {self.timeout_s:g} s (--verifier-timeout)") from None
        if process.returncode != 0:
            tail = err.strip()[-_STDERR_TAIL:]
            raise VerifierError(f"{where}: exited with code {process.returncode}" + (f":\n{tail}" if tail else ""))
        return _parse_answer(out, where, payload["answer"])


def _parse_answer(out: str, where: str, extracted: Optional[str]) -> Verdict:
    lines = [line for line in out.splitlines() if line.strip()]
    try:
        answer = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        answer = None
    if not isinstance(answer, dict) or "passed" not in answer:
        raise VerifierError(f'{where}: expected a JSON object with "passed" on stdout, got {out.strip()[:200]!r}')
    passed = answer["passed"]
    score = answer.get("score")
    if not isinstance(passed, bool):
        raise VerifierError(f'{where}: "passed" must be true or false, got {passed!r}')
    if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float))):
        raise VerifierError(f'{where}: "score" must be a number, got {score!r}')
    given = answer.get("answer", extracted)
    return Verdict(passed, None if given is None else str(given), None if score is None else float(score),
                   answer.get("detail"))


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.communicate()


@dataclass(frozen=True)
class ExternalOptions(PluginOptions):
    command: Optional[str] = doc(
        None, "The program to run, e.g. 'python check.py'; it reads one JSON object per call on stdin and writes "
        "{\"passed\": bool, \"score\": float?, \"answer\": str?} on stdout.")
    send_reference: bool = doc(False, "Send the reference answer too (the run is then oracle-verified).")


def from_config(config, options: ExternalOptions) -> ExternalVerifier:
    if not options.command:
        raise ConfigError("the external verifier needs --external-command, e.g. 'python check.py'")
    return ExternalVerifier(options.command, config.timeout, config.extractor, options.send_reference)


PLUGIN = Plugin(from_config, ExternalOptions, "your own program decides each sample")

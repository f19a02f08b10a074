"""Any OpenAI-compatible server: vLLM serve, SGLang, llama.cpp's server, hosted APIs.

Requests go out concurrently (``concurrency`` at most), spread over one or more base URLs by
least outstanding requests. Retries are bounded: 429, 5xx, timeouts and dropped connections are
retried up to ``max_retries`` times with exponential backoff and full jitter, honouring
``Retry-After``; after that the run stops with a clear error and its log intact. ``n > 1`` is
sent as is and topped up with single requests (derived seeds) when a server returns fewer
choices, as llama.cpp's server does.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import queue
import random
import threading
import time
from collections import Counter
from typing import Any, Iterator, Optional, Sequence

from dataclasses import dataclass

from ..config_fields import JSONObject, PluginOptions, doc, require
from ..errors import BackendError, ConfigError, MissingDependencyError
from ..records import Completion, GenerationRequest
from ..registry import Plugin
from .activity import EngineActivity
from .base import BackendBase
from .llamacpp import derived_seed

RETRYABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


@dataclass(frozen=True)
class OpenAIOptions(PluginOptions):
    base_urls: tuple[str, ...] = doc(
        (), "Server URL(s), e.g. http://127.0.0.1:8000/v1; several spread the load by least outstanding requests "
        "(default: $OPENAI_BASE_URL).")
    api_key_env: str = doc("OPENAI_API_KEY", "Environment variable that holds the server's API key.")
    concurrency: int = doc(8, "Most requests in flight at once.")
    request_timeout: float = doc(120.0, "Seconds before one HTTP request is abandoned and retried.")
    max_retries: int = doc(5, "Retries per request on 429, 5xx, timeouts and dropped connections.")
    backoff_base: float = doc(0.5, "Seconds of the first retry's backoff (doubled each retry, full jitter).")
    backoff_cap: float = doc(30.0, "Most seconds of one backoff.")
    omit_top_k: bool = doc(False, "Leave top_k out of requests (an extension some servers refuse).")
    extra_body: JSONObject = doc((), "More request fields as a JSON object, e.g. '{\"repeat_penalty\": 1.0}'.")
    logprobs: bool = doc(False, "Ask for each sampled token's log-probability (vLLM, SGLang and llama.cpp's server "
                                "send them), which --consistency-vote weighs label-free votes by.")

    def __post_init__(self) -> None:
        require(self.concurrency >= 1, f"concurrency must be >= 1, got {self.concurrency}")
        require(self.request_timeout > 0, f"request_timeout must be > 0, got {self.request_timeout}")
        require(0 <= self.max_retries <= 100, f"max_retries must be in [0, 100], got {self.max_retries}")
        require(self.backoff_base >= 0 and self.backoff_cap >= 0, "backoff_base and backoff_cap must be >= 0")


def from_config(config, options: OpenAIOptions) -> "OpenAIBackend":
    urls = list(options.base_urls) or [u for u in [os.environ.get("OPENAI_BASE_URL")] if u]
    if not urls:
        raise ConfigError("the openai backend needs a server: give --openai-base-urls or set OPENAI_BASE_URL")
    return OpenAIBackend(
        base_urls=urls,
        model=config.model,
        api_key=os.environ.get(options.api_key_env),
        concurrency=options.concurrency,
        timeout=options.request_timeout,
        max_retries=options.max_retries,
        backoff_base=options.backoff_base,
        backoff_cap=options.backoff_cap,
        send_top_k=not options.omit_top_k,
        extra_body=dict(options.extra_body) or None,
        logprobs=options.logprobs,
    )


class OpenAIBackend(BackendBase):
    def __init__(
        self,
        base_urls: Sequence[str],
        model: Optional[str] = None,
        api_key: Optional[str] = None,
        concurrency: int = 8,
        timeout: float = 120.0,
        max_retries: int = 5,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        send_top_k: bool = True,
        extra_body: Optional[dict[str, Any]] = None,
        logprobs: bool = False,
    ):
        try:
            import httpx
        except ImportError as exc:
            raise MissingDependencyError("httpx", "openai", "The openai backend") from exc
        self._httpx = httpx
        self.base_urls = [u.rstrip("/") for u in base_urls]
        self.api_key = api_key
        self.concurrency = concurrency
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.send_top_k = send_top_k
        # Server-specific sampling fields (e.g. llama.cpp's min_p, repeat_penalty), sent as given.
        self.extra_body = dict(extra_body or {})
        self.reports_logprobs = logprobs
        self._outstanding = {u: 0 for u in self.base_urls}
        # Failures in a row per server: a server that just failed gets requests only when all have failed.
        self._failing = {u: 0 for u in self.base_urls}
        self._answered = {u: 0 for u in self.base_urls}  # successful responses per server
        self._n_honoured: dict[str, bool] = {}
        self._jitter = random.Random(0)
        self.retry_reasons: Counter[str] = Counter()
        self.requests_sent = 0
        # Continuous scheduling may call generate from this many threads at once.
        self.concurrent_requests = concurrency
        self.activity = EngineActivity(concurrency)
        self.model = model or self._first_served_model()
        self.model_id = f"openai:{self.model}"

    # The one contract method.
    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        return _run_sync(self._generate(requests))

    def stats(self) -> dict[str, Any]:
        """Retry and request counts, reported in summary.json."""
        return {
            "http_requests": self.requests_sent,
            "retries": sum(self.retry_reasons.values()),
            "retry_reasons": dict(sorted(self.retry_reasons.items())),
            "responses_per_server": dict(self._answered),
            "engine": self.activity.stats(),
        }

    def stream(self, requests: Sequence[GenerationRequest]) -> Iterator[tuple[int, list[Completion]]]:
        """Each request as its response arrives. The event loop runs on a helper thread and hands
        results over a queue, so the caller verifies and logs on its own thread meanwhile."""
        results: queue.Queue = queue.Queue()
        stop = threading.Event()

        async def produce() -> None:
            async def one(client, limit, index, request):
                if not stop.is_set():
                    results.put((index, await self._one(client, limit, request)))

            try:
                async with self._client() as client:
                    limit = asyncio.Semaphore(self.concurrency)
                    await asyncio.gather(*(one(client, limit, i, r) for i, r in enumerate(requests)))
            except BaseException as exc:  # handed to the caller's thread
                results.put((None, exc))

        worker = threading.Thread(target=lambda: asyncio.run(produce()), name="adaptive-batch-openai", daemon=True)
        worker.start()
        try:
            for _ in range(len(requests)):
                index, value = results.get()
                if index is None:
                    raise value
                yield index, value
        finally:
            stop.set()  # requests not yet sent are not sent; those in flight finish
            worker.join()

    def _client(self):
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        return self._httpx.AsyncClient(timeout=self.timeout, headers=headers)

    async def _generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        limit = asyncio.Semaphore(self.concurrency)
        async with self._client() as client:
            return list(await asyncio.gather(*(self._one(client, limit, r) for r in requests)))

    async def _one(self, client, limit, request: GenerationRequest) -> list[Completion]:
        out = await self._call(client, limit, request, request.seed, request.n)
        index = len(out)
        while index < request.n:  # the server ignored n: top up one by one
            more = await self._call(client, limit, request, derived_seed(request.seed, index), 1)
            out.extend(more[:1])
            index += 1
        return out[: request.n]

    async def _call(self, client, limit, request: GenerationRequest, seed: int, n: int) -> list[Completion]:
        p = request.params
        chat = not isinstance(request.prompt, str)
        payload: dict[str, Any] = {
            "model": self.model,
            "max_tokens": p.max_tokens,
            "temperature": p.temperature,
            "top_p": p.top_p,
            "stop": list(p.stop),
            "seed": seed,
            "n": n,
        }
        if self.send_top_k and p.top_k > 0:
            payload["top_k"] = p.top_k
        if self.reports_logprobs:
            payload["logprobs"] = True if chat else 1
        payload.update(self.extra_body)
        if chat:
            payload["messages"] = list(request.prompt)
        else:
            payload["prompt"] = request.prompt
        started, started_at = time.perf_counter(), round(time.time(), 3)
        body = await self._post(client, limit, "/chat/completions" if chat else "/completions", payload)
        seconds = time.perf_counter() - started  # retries and waiting for a slot included
        if isinstance(body, Completion):  # the server refused the prompt itself
            return [body]
        usage = body.get("usage") or {}
        # Sent by vLLM (--enable-prompt-tokens-details), SGLang and OpenAI; absent: none known.
        details = usage.get("prompt_tokens_details") or {}
        cached = int(details.get("cached_tokens") or 0) if isinstance(details, dict) else 0
        choices = sorted(body.get("choices") or [], key=lambda c: c.get("index", 0))
        if not choices:
            raise BackendError(f"the server answered without choices: {str(body)[:200]}")
        generated = int(usage.get("completion_tokens", 0))
        out = []
        for choice in choices:
            text = (choice["message"].get("content") or "") if chat else (choice.get("text") or "")
            out.append(
                Completion(
                    text=text,
                    prompt_tokens=int(usage.get("prompt_tokens", 0)),
                    # Usage is per response; with several choices it is shared out evenly.
                    completion_tokens=round(generated / len(choices)),
                    finish_reason=choice.get("finish_reason") or "stop",
                    cached_tokens=cached,
                    engine_s=round(seconds / len(choices), 6),
                    started_at=started_at,
                    logprob=_summed_logprob(choice, chat) if self.reports_logprobs else None,
                )
            )
        return out

    async def _post(self, client, limit, path: str, payload: dict) -> dict | Completion:
        last_error = ""
        for attempt in range(self.max_retries + 1):
            retry_after: Optional[float] = None
            async with limit:
                url = min(self.base_urls, key=lambda u: (self._failing[u] > 0, self._outstanding[u]))
                self._outstanding[url] += 1
                self.requests_sent += 1
                try:
                    with self.activity.request():
                        response = await client.post(url + path, json=payload)
                except self._httpx.TimeoutException:
                    last_error = f"{url}: timed out after {self.timeout:g} s"
                    self.retry_reasons["timeout"] += 1
                except self._httpx.TransportError as exc:
                    last_error = f"{url}: connection failed ({type(exc).__name__})"
                    self.retry_reasons["connection"] += 1
                else:
                    if response.status_code == 200:
                        self._failing[url], self._answered[url] = 0, self._answered[url] + 1
                        return response.json()
                    text = response.text[:300]
                    if response.status_code == 400 and _looks_like_context_overflow(text):
                        tokens = len(str(payload.get("prompt") or payload.get("messages")).split())
                        return Completion("", tokens, 0, "error", error=f"prompt too long: {text}")
                    if response.status_code not in RETRYABLE_STATUS:
                        raise BackendError(f"{url}{path} answered {response.status_code}: {text}")
                    last_error = f"{url}: HTTP {response.status_code}"
                    self.retry_reasons[f"http_{response.status_code}"] += 1
                    retry_after = _retry_after(response.headers.get("retry-after"))
                finally:
                    self._outstanding[url] -= 1
                self._failing[url] += 1  # this attempt failed: the next goes to a server that has not
            if attempt == self.max_retries:
                break
            ceiling = min(self.backoff_cap, self.backoff_base * 2**attempt)
            await asyncio.sleep(retry_after if retry_after is not None else self._jitter.uniform(0, ceiling))
        raise BackendError(
            f"the server stayed unavailable after {self.max_retries} retries (last: {last_error}). "
            "Every finished round is logged; run the same command again to resume."
        )

    def _first_served_model(self) -> str:
        url = self.base_urls[0] + "/models"
        try:
            response = self._httpx.get(url, timeout=self.timeout,
                                       headers={"Authorization": f"Bearer {self.api_key}"} if self.api_key else {})
            response.raise_for_status()
            return response.json()["data"][0]["id"]
        except Exception as exc:  # any failure here means the same thing to the user
            raise BackendError(f"cannot ask {url} which model it serves ({exc}); give --model") from None


def _looks_like_context_overflow(text: str) -> bool:
    lowered = text.lower()
    return any(s in lowered for s in ("context length", "context window", "maximum context", "too long", "exceed"))


def _summed_logprob(choice: dict, chat: bool) -> Optional[float]:
    """The choice's sampled tokens' summed log-probability as the server sent it (completions:
    ``logprobs.token_logprobs``; chat: ``logprobs.content[].logprob``); None where it sent none."""
    logprobs = choice.get("logprobs")
    if not isinstance(logprobs, dict):
        return None
    values = ([t.get("logprob") for t in logprobs.get("content") or [] if isinstance(t, dict)] if chat
              else logprobs.get("token_logprobs") or [])
    values = [float(v) for v in values if isinstance(v, (int, float))]
    return round(sum(values), 4) if values else None


def _retry_after(value: Optional[str]) -> Optional[float]:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def _run_sync(coroutine):
    """Run a coroutine to completion, also from inside a running event loop (notebooks)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    result: dict[str, Any] = {}

    def target():
        try:
            result["value"] = asyncio.run(coroutine)
        except BaseException as exc:  # re-raised in the caller's thread
            result["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


PLUGIN = Plugin(from_config, OpenAIOptions, "any OpenAI-compatible server (vLLM serve, SGLang, llama.cpp's server)")

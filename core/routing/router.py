"""Router: a model served by several upstream deployments, behind the Backend protocol.

The pipeline streams from a Router as from any backend. Each attempt is one call of one
deployment's backend (which still makes exactly one upstream request). Before the first
chunk reaches the caller, a failed attempt is settled by the policy table
(core/routing/policy.py) and retried on another eligible deployment (the same one only when
no other is left), up to `attempts`, then on each fallback model in order; when every
deployment of the chain is open, the request waits for the soonest reopening if its deadline
allows, else fails at once with BackendUnavailableError(retry_after=time until then). After
the first chunk nothing switches: an error ends the stream (the pipeline's error event).

Per request the router does a pick and two counters; per chunk only the generator hop. The
trail (deployment, attempts, fallback model) goes to the request's fields
(observability.requests), which the gRPC edge turns into trailing metadata and the final
event.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Final

from core import deadlines
from core.backends.base import Backend, EmbedInputs
from core.errors import (
    BackendTimeoutError,
    BackendUnavailableError,
    ChatError,
    ContextLengthExceededError,
)
from core.routing.breaker import Breaker, State
from core.routing.deployment import Deployment
from core.routing.policy import POLICY, Effect, Outcome, Retry, classify, retry_after
from core.routing.strategies import STRATEGIES
from core.types import BackendChunk, EmbeddingBatch, GenerationParams, Prompt
from observability import metrics
from observability.requests import RequestFields, current

logger = logging.getLogger(__name__)

MAX_WAITS: Final = 8  # rounds of waiting for a reopening within one request
PROBE_POLL: Final = 0.05  # seconds between looks while only probes in flight block the way


@dataclass(frozen=True, slots=True)
class RoutingConfig:
    """A model's `[routing]` table (idle_timeout is applied by the backends' read timeout)."""

    strategy: str = "weighted"
    attempts: int = 3
    first_token_timeout: float = 0.0  # 0: none beyond the backend's own
    idle_timeout: float = 0.0
    health_check_interval: float = 0.0  # seconds between active probes; 0: none (health.py)


@dataclass(slots=True)
class _Opened:
    """An attempt that produced its first chunk: the stream goes on from it."""

    router: Router
    deployment: Deployment
    chunks: AsyncGenerator[BackendChunk, None]
    first: BackendChunk


@dataclass(slots=True)
class _Miss:
    """A model that could not answer: its last error, whether the prompt was too long for
    it, and when one of its deployments reopens if they were all open."""

    error: ChatError | None
    context: bool = False
    soonest: float | None = None


@dataclass(slots=True)
class _Request:
    """One request's routing state: attempts made per model, deployments tried."""

    fields: RequestFields
    key: str
    used: dict[str, int]
    tried: set[int]


Resolve = Callable[[str], Backend]
Publish = Callable[[str, Deployment], None]


class Router:
    """The deployments of one model, their fallbacks, and the attempt loop."""

    kind: ClassVar[str] = "router"
    supports_tools: ClassVar[bool] = True

    def __init__(
        self,
        model: str,
        deployments: Sequence[Deployment],
        config: RoutingConfig = RoutingConfig(),
        *,
        fallbacks: Sequence[str] = (),
        context_fallbacks: Sequence[str] = (),
        resolve: Resolve | None = None,
        publish: Publish | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not deployments:
            raise ValueError(f"model {model!r} has no deployment")
        self.model = model
        self.deployments = tuple(deployments)
        self.config = config
        self._strategy = STRATEGIES[config.strategy]()
        self._fallbacks = tuple(fallbacks)
        self._context_fallbacks = tuple(context_fallbacks)
        self._resolve = resolve
        self._publish = publish
        self._clock = clock
        vars(self)["supports_tools"] = self.deployments[0].backend.supports_tools
        self._windowed = any(d.context_window for d in self.deployments)
        for deployment in self.deployments:
            deployment.breaker.watch(self._watcher(deployment))
            metrics.child(metrics.BREAKER_STATE, model, deployment.name).set(0)

    def _watcher(self, deployment: Deployment) -> Callable[[Breaker], None]:
        def changed(breaker: Breaker) -> None:
            metrics.child(metrics.BREAKER_STATE, self.model, deployment.name).set(breaker.state)
            if self._publish is not None:
                self._publish(self.model, deployment)

        return changed

    async def stream(
        self, prompt: Prompt, params: GenerationParams
    ) -> AsyncGenerator[BackendChunk, None]:
        """The first deployment (or fallback) that starts answering, streamed to its end."""
        fields = current() or RequestFields("")
        began = time.perf_counter()
        request = _Request(fields, fields.thread_id, {}, set())
        opened = await self._open(prompt, params, request)
        if fields.attempts > 1:
            metrics.child(metrics.FAILOVER_DURATION, self.model).observe(
                time.perf_counter() - began
            )
        router, deployment, chunks = opened.router, opened.deployment, opened.chunks
        outcome, error = Outcome.CANCELLED, None
        try:
            yield opened.first
            async for chunk in chunks:
                yield chunk
            outcome = Outcome.OK
        except ChatError as exc:
            outcome, error = classify(exc), exc
            raise
        finally:
            deployment.in_flight -= 1
            router._settle(deployment, outcome, error)
            await chunks.aclose()

    async def _open(self, prompt: Prompt, params: GenerationParams, request: _Request) -> _Opened:
        """Attempts along the chain (this model, then its fallbacks), waiting for a reopening
        while the deadline allows."""
        last: ChatError | None = None
        for _ in range(MAX_WAITS):
            chain, soonest, index = [self, *self._routers(self._fallbacks)], None, 0
            while index < len(chain):
                router = chain[index]
                result = await router._attempts(prompt, params, request)
                if isinstance(result, _Opened):
                    if router is not self:
                        request.fields.fallback = router.model
                    return result
                last = result.error or last
                if result.context:
                    chain[index + 1 :] = self._routers(self._context_fallbacks)
                if result.soonest is not None:
                    soonest = min(soonest or result.soonest, result.soonest)
                index += 1
            now = self._clock()
            if soonest is None:
                break
            wait, left = max(0.0, soonest - now), deadlines.remaining()
            if left is not None and wait >= left:
                raise _all_open(self.model, wait)
            await asyncio.sleep(wait)
        if last is not None and classify(last) is Outcome.CONTEXT:
            raise last
        reopening = self._soonest_in_chain(self._clock())
        raise _all_open(self.model, reopening, last)

    async def _attempts(
        self, prompt: Prompt, params: GenerationParams, request: _Request
    ) -> _Opened | _Miss:
        """This model's attempts, up to `attempts` per request."""
        last: ChatError | None = None
        fitting = await self._fitting(prompt, params)
        if not fitting:  # the pre-call check: on to the context-window fallbacks
            error = ContextLengthExceededError(
                f"The prompt does not fit any deployment of {self.model!r}.", field="messages"
            )
            return _Miss(error, context=True)
        while request.used.get(self.model, 0) < self.config.attempts:
            now = self._clock()
            usable = [d for d in fitting if d.usable(now)]
            if not usable:
                return _Miss(last, soonest=self._soonest(now))
            fresh = [d for d in usable if id(d) not in request.tried]
            deployment = self._strategy.pick(fresh or usable, self.deployments, request.key)
            request.used[self.model] = request.used.get(self.model, 0) + 1
            request.tried.add(id(deployment))
            request.fields.attempts += 1
            try:
                opened = await self._attempt(deployment, prompt, params)
            except ChatError as exc:
                outcome = classify(exc)
                self._settle(deployment, outcome, exc)
                retry = POLICY[outcome].retry
                if retry is Retry.NO:
                    raise
                if retry is Retry.CONTEXT_FALLBACKS:
                    return _Miss(exc, context=True)
                last = exc
                continue
            request.fields.upstream = deployment.name
            return opened
        return _Miss(last)

    async def _fitting(self, prompt: Prompt, params: GenerationParams) -> Sequence[Deployment]:
        """The deployments whose context window holds the prompt and the requested output
        (every one, uncounted, when none declares a window of its own)."""
        if not self._windowed:
            return self.deployments
        needed = await self.count_tokens(prompt) + (params.max_tokens or 0)
        return [d for d in self.deployments if not d.context_window or needed <= d.context_window]

    async def _attempt(
        self, deployment: Deployment, prompt: Prompt, params: GenerationParams
    ) -> _Opened:
        """One call of the deployment's backend, until its first chunk."""
        deployment.breaker.acquire(self._clock())
        deployment.in_flight += 1
        chunks = deployment.backend.stream(prompt, params)
        started = time.perf_counter()
        timeout = self.config.first_token_timeout or None
        try:
            try:
                async with asyncio.timeout(timeout):
                    first = await anext(chunks)
            except TimeoutError:  # ours: the backend maps its own timeouts to ChatError
                raise BackendTimeoutError(
                    "The upstream model sent no first token in time.", backend=self.kind
                ) from None
            except StopAsyncIteration:
                raise BackendUnavailableError(
                    "The upstream model ended without a reply.", backend=self.kind
                ) from None
        except BaseException as exc:
            deployment.in_flight -= 1
            await chunks.aclose()
            if not isinstance(exc, ChatError):
                self._settle(deployment, Outcome.CANCELLED, None)
            raise
        deployment.observe_latency(time.perf_counter() - started)
        return _Opened(self, deployment, chunks, first)

    def _settle(self, deployment: Deployment, outcome: Outcome, error: ChatError | None) -> None:
        """An attempt's end: counted, logged when it failed, applied to the breaker."""
        metrics.child(metrics.UPSTREAM_ATTEMPTS, self.model, deployment.name, outcome).inc()
        breaker, now = deployment.breaker, self._clock()
        if outcome is Outcome.OK:
            breaker.succeeded()
            return
        rule = POLICY.get(outcome)
        if rule is None or error is None:  # cancelled: says nothing about the deployment
            breaker.released()
            return
        logger.warning(
            "Upstream attempt failed: model %s deployment %s: %s (%s)",
            self.model,
            deployment.name,
            outcome,
            error.reason,
        )
        if rule.effect is Effect.FAILURE:
            breaker.failed(now)
        elif rule.effect is Effect.COOL:
            breaker.cool(now, retry_after(error))
        elif rule.effect is Effect.OPEN:
            logger.warning(
                "Deployment %s of model %s looks misconfigured (key, model name or URL): "
                "opened for %gs",
                deployment.name,
                self.model,
                breaker.config.cooldown,
            )
            breaker.open(now + breaker.config.cooldown)
        else:
            breaker.released()

    def _soonest(self, now: float) -> float:
        """When one of this model's deployments may take an attempt again."""
        times = [d.breaker.reopens_at(now) for d in self.deployments]
        known = [t for t in times if t is not None]
        return min(known) if known else now + PROBE_POLL

    def _soonest_in_chain(self, now: float) -> float | None:
        chain = [self, *self._routers(self._fallbacks)]
        opened = [r._soonest(now) for r in chain if _all_open_now(r, now)]
        return max(0.0, min(opened) - now) if opened else None

    def _routers(self, names: Sequence[str]) -> list[Router]:
        """The fallback models that are loaded and routed (others are skipped, logged)."""
        routers: list[Router] = []
        for name in names:
            try:
                backend = self._resolve(name) if self._resolve is not None else None
            except ChatError:
                backend = None
            if isinstance(backend, Router):
                routers.append(backend)
            else:
                logger.warning("fallback model %s of %s is not available", name, self.model)
        return routers

    async def count_tokens(self, prompt: Prompt) -> int:
        return await self.deployments[0].backend.count_tokens(prompt)

    async def embed(self, texts: EmbedInputs, dimensions: int | None) -> EmbeddingBatch:
        """One embedding call on the first usable deployment in strategy order, the next
        ones tried on a failure the policy retries."""
        now, last = self._clock(), None
        usable = [d for d in self.deployments if d.usable(now)] or list(self.deployments)
        for deployment in usable:
            try:
                return await deployment.backend.embed(texts, dimensions)
            except ChatError as exc:
                outcome = classify(exc)
                self._settle(deployment, outcome, exc)
                if POLICY[outcome].retry is not Retry.ELSEWHERE:
                    raise
                last = exc
        assert last is not None
        raise last

    async def aclose(self) -> None:
        for deployment in self.deployments:
            await deployment.backend.aclose()


def _all_open_now(router: Router, now: float) -> bool:
    return all(d.breaker.state is State.OPEN for d in router.deployments)


def _all_open(model: str, wait: float | None, last: ChatError | None = None) -> ChatError:
    """The answer when no deployment can take the request within its deadline."""
    if wait is None and last is not None:
        return last
    return BackendUnavailableError(
        f"Every upstream deployment of {model!r} is failing; retry later.",
        retry_after=wait,
        model=model,
    )

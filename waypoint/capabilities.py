"""Capability registry: nodes ask for a capability by name; configuration picks the provider.

A capability is a contract (pydantic input and output models). Providers serve it, each with an
owner, a version, a cost model and an SLO: an offline deterministic provider (always present, so
every graph runs with no key and no network), any providers a plugin adds, and, for capabilities
with a prompt, a chat model reached through `init_chat_model` when a `provider:model` setting is
given. Which providers serve a capability, in which order, is configuration (`waypoint.toml`,
`WAYPOINT_ROUTE_<CAPABILITY>`), validated by `validate_config`. Each call is routed among the
healthy providers (`waypoint.routing`, `waypoint.breakers`) and falls back to the next one when a
provider fails; whatever a provider returns is validated against the output contract before it
can enter the state.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import os
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Generic, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langgraph.config import get_config
from pydantic import BaseModel, ValidationError

from waypoint.breakers import shared_breakers
from waypoint.capability_hooks import current_hook, without_hook
from waypoint.chat_models import (
    ChatModelFactory,
    ask_for_structured,
    check_chat_model_spec,
    default_chat_model_factory,
)
from waypoint.config import DailyBudget, load_config
from waypoint.daily_budgets import OverBudget, Reservation, reserve
from waypoint.errors import BadInput
from waypoint.guards import GuardHalt, Halt, current_guard
from waypoint.kill_watch import current_stop
from waypoint.persistence.sql import Database
from waypoint.pricing import WorstCase, price, worst_case
from waypoint.provider_errors import NoProviderAvailable, ProviderUnavailable, RateLimited
from waypoint.provider_health import health_of
from waypoint.routing import Ranking, Router
from waypoint.routing import now as routing_now

MAX_RETRY_AFTER_WAIT = 30.0
"""Longest Retry-After honoured by waiting in-process; longer ones fail the attempt."""

T = TypeVar("T")
InT = TypeVar("InT", bound=BaseModel)
OutT = TypeVar("OutT", bound=BaseModel)


class CapabilityContractError(Exception):
    """A provider's output does not satisfy its capability's output contract."""

    def __init__(self, capability: str, provider: str, detail: str) -> None:
        """Say which capability and provider broke the contract, and how."""
        super().__init__(
            f"provider {provider!r} broke the output contract of capability "
            f"{capability!r}: {detail}"
        )
        self.capability = capability
        self.provider = provider


class UnknownCapability(KeyError):
    """No capability of that name is registered."""


@dataclass(frozen=True)
class Capability(Generic[InT, OutT]):
    """A named contract: what goes in, what must come out.

    ```python
    CLASSIFY = Capability("classify_ticket", "What the customer wants.", Request, Verdict)
    verdict = await CLASSIFY.call(Request(...), model=runtime.context.model)  # a Verdict
    ```
    """

    name: str
    description: str
    input_model: type[InT]
    output_model: type[OutT]
    replayed: bool = False
    """Eval replay serves this capability's recorded answers even though it has no model
    prompt (its answers depend on the world outside the run: a search index, a memory Store).
    Capabilities with a prompt are always replayed; others run live by default."""

    async def call(self, request: InT, *, model: str | None = None) -> OutT:
        """The validated output for `request`, typed as the capability's output model.

        Served through the registry: routing, fallback, breakers, the ledger and the guards.
        """
        result = await registry.call(self.name, request, model=model)
        assert isinstance(result, self.output_model)
        return result

    def call_sync(self, request: InT, *, model: str | None = None) -> OutT:
        """`call` for a sync node (LangGraph runs its body in a worker thread).

        The call is served on the run's event loop, as `call` is. A kill that lands while it
        waits cancels it, and the node is halted here (`waypoint.kill_watch`).

        Raises:
            GuardHalt: the run was killed before, during or after the call.
            RuntimeError: called from async code (await `call` there).
        """
        result = call_from_thread(self.call(request, model=model))
        assert isinstance(result, self.output_model)
        return result


def call_from_thread(work: Coroutine[Any, Any, T]) -> T:
    """Run `work` on the run's event loop from a sync node's thread, in the node's context.

    Raises:
        GuardHalt: a kill landed before the call, while it waited, or before it returned.
        RuntimeError: called on a thread that runs an event loop.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        work.close()
        raise RuntimeError("call_sync is for sync nodes; in async code, await call(...)")
    stop = current_stop()
    loop = stop.loop if stop is not None else None
    if stop is None or loop is None or loop.is_closed():
        return asyncio.run(work)  # no runner's loop (a script, a test): a loop of its own
    node = _node_name()
    try:
        stop.check(node)
    except GuardHalt:
        work.close()
        raise
    context = contextvars.copy_context()

    async def in_node_context() -> T:
        return await asyncio.get_running_loop().create_task(work, context=context)

    call = asyncio.run_coroutine_threadsafe(in_node_context(), loop)
    stop.call_started(call)
    try:
        result = call.result()
    except concurrent.futures.CancelledError:
        stop.check(node)  # the kill cancelled it
        raise
    finally:
        stop.call_ended(call)
    stop.check(node)
    return result


def _daily_budget() -> tuple[Any, DailyBudget] | None:
    """The run's recorder and its workflow's daily limits, when the run has any."""
    from waypoint.ledger import current_recorder

    recorder = current_recorder()
    if recorder is None:
        return None
    budget = load_config().daily_budgets.get(recorder.graph)
    return None if budget is None else (recorder, budget)


async def _reserve_daily(
    node: str, daily: tuple[Any, DailyBudget], worst: WorstCase
) -> Reservation | None:
    """Hold the call's worst case against the workflow's and the user's daily limits.

    Raises:
        GuardHalt: a limit would be passed.
    """
    recorder, budget = daily
    try:
        return await reserve(recorder.db, recorder.graph, recorder.actor, budget, worst)
    except OverBudget as refused:
        raise GuardHalt(Halt(kind="budget", reason=refused.reason, node=node)) from None


def _node_name() -> str:
    try:
        return str(get_config().get("metadata", {}).get("langgraph_node", "?"))
    except RuntimeError:  # outside a graph run
        return "?"


@dataclass(frozen=True)
class OfflineProvider(Generic[InT, OutT]):
    """A provider backed by a Python function (sync or async).

    For example a deterministic offline stand-in for a model, documented as such in
    `description`.
    """

    name: str
    version: str
    description: str
    fn: Callable[[InT], OutT | Awaitable[OutT]]
    owner: str = "waypoint"
    usd_per_call: Decimal = Decimal("0")
    slo_latency_ms: float = 50.0
    slo_error_rate: float = 0.001
    timeout_seconds: float = 30.0


@dataclass(frozen=True)
class ProviderCard:
    """What `waypoint registry` shows of a provider."""

    capability: str
    name: str
    version: str
    owner: str
    description: str
    usd_per_call: Decimal
    usd_per_1k_tokens: Decimal
    slo_latency_ms: float
    slo_error_rate: float


PromptBuilder = Callable[[Any], list[BaseMessage]]


@dataclass
class _Entry:
    capability: Capability[Any, Any]
    offline: OfflineProvider[Any, Any]
    prompt: PromptBuilder | None = None
    extra: dict[str, OfflineProvider[Any, Any]] = field(default_factory=dict)

    def providers(self) -> dict[str, OfflineProvider[Any, Any]]:
        return {self.offline.name: self.offline, **self.extra}


@dataclass
class CapabilityRegistry:
    """Capabilities by name, their providers, and the chat model factory."""

    chat_model_factory: ChatModelFactory = default_chat_model_factory
    router: Router = field(default_factory=Router)
    usd_per_1k_tokens: dict[str, Decimal] = field(default_factory=dict)
    """Price of each `provider:model` (USD per 1,000 tokens); unknown models cost 0."""
    _entries: dict[str, _Entry] = field(default_factory=dict)
    _mcp_config: Any = None
    """The configuration whose `[mcp_providers]` were added last (`_add_mcp_providers`)."""

    def _add_mcp_providers(self, config: Any) -> None:
        """Add the MCP tools of `waypoint.toml` (`[mcp_providers.NAME]`) to their capabilities.

        Once per configuration read; a provider whose capability is not registered (yet) is
        left out here and named by `validate_config`.
        """
        if config is self._mcp_config:
            return
        from waypoint.mcp_providers import mcp_provider

        for name, spec in config.mcp_providers.items():
            if spec.capability in self._entries:
                self._entries[spec.capability].extra[name] = mcp_provider(name, spec)
        self._mcp_config = config

    def register(
        self,
        capability: Capability[InT, OutT],
        offline: OfflineProvider[InT, OutT],
        *,
        prompt: PromptBuilder | None = None,
    ) -> None:
        """Register a capability with its offline provider and, optionally, a model prompt."""
        self._entries[capability.name] = _Entry(capability, offline, prompt)

    def capability(self, name: str) -> Capability[Any, Any]:
        """Look up a capability by name."""
        try:
            return self._entries[name].capability
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "none"
            raise UnknownCapability(f"unknown capability {name!r}; registered: {known}") from None

    def names(self) -> list[str]:
        """Registered capability names."""
        return sorted(self._entries)

    def add_provider(self, capability: str, provider: OfflineProvider[Any, Any]) -> None:
        """Add another provider of a registered capability (a plugin's, a test's)."""
        self.capability(capability)
        self._entries[capability].extra[provider.name] = provider

    def provider_name(self, name: str, model: str | None) -> str:
        """Which provider is first in line for `name` with this model setting."""
        return self.route(name, model)[0]

    def route(self, name: str, model: str | None) -> list[str]:
        """The configured providers of `name`, in order of preference.

        `WAYPOINT_ROUTE_<NAME>` (comma-separated) overrides `waypoint.toml`
        (`[capabilities.<name>] providers = [...]`); the default is the offline provider. A model
        setting puts `chat:<model>` first; the configured ones follow only with `model_fallback`.
        """
        entry = self._entries[name]
        config = load_config()
        self._add_mcp_providers(config)
        section = config.capabilities.get(name)
        env = os.environ.get(f"WAYPOINT_ROUTE_{name.upper()}")
        if env:
            configured = [p.strip() for p in env.split(",") if p.strip()]
        elif section is not None and section.providers:
            configured = list(section.providers)
        else:
            configured = [entry.offline.name]
        if model and entry.prompt is not None:
            fallback = section is not None and section.model_fallback
            chat = f"chat:{model}"
            return [chat, *(p for p in configured if p != chat)] if fallback else [chat]
        return configured

    def check_model(self, spec: str) -> None:
        """Check a `provider:model` setting before a run starts, without calling the model.

        The default factory (`init_chat_model`) is asked whether it knows the provider and its
        package is installed; a factory installed in its place may offer `check_spec(spec)`,
        and is otherwise trusted.

        Raises:
            ValueError: the setting cannot be served, and why.
        """
        factory = self.chat_model_factory
        if factory is default_chat_model_factory:
            check_chat_model_spec(spec)
            return
        check_spec = getattr(factory, "check_spec", None)
        if callable(check_spec):
            check_spec(spec)

    def validate_config(self) -> None:
        """Check every configured route names known providers of the right capability.

        Raises:
            BadInput: an unknown capability or provider, or a provider of another capability.
        """
        config = load_config()
        for name, spec in config.mcp_providers.items():
            if spec.capability not in self._entries:
                raise BadInput(
                    f"config: mcp_providers.{name}.capability: unknown capability "
                    f"{spec.capability!r}; registered: {', '.join(self.names())}",
                    field=f"mcp_providers.{name}.capability",
                )
        self._add_mcp_providers(config)
        for name in config.capabilities:
            if name not in self._entries:
                raise BadInput(
                    f"config: capabilities.{name}: unknown capability; registered: "
                    f"{', '.join(self.names())}",
                    field=f"capabilities.{name}",
                )
        owners = {p: n for n, e in self._entries.items() for p in e.providers()}
        for name in self.names():
            for provider in self.route(name, None):
                if provider.startswith("chat:") and self._entries[name].prompt is not None:
                    continue
                if provider not in owners:
                    raise BadInput(
                        f"config: capabilities.{name}.providers: unknown provider {provider!r}; "
                        f"known: {', '.join(sorted(self._entries[name].providers()))}",
                        field=f"capabilities.{name}.providers",
                    )
                if owners[provider] != name:
                    raise BadInput(
                        f"config: capabilities.{name}.providers: {provider!r} serves "
                        f"{owners[provider]!r}, whose contract is not {name!r}'s",
                        field=f"capabilities.{name}.providers",
                    )

    def cards(self) -> list[ProviderCard]:
        """Every registered provider with its owner, version, cost model and SLO."""
        cards: list[ProviderCard] = []
        self._add_mcp_providers(load_config())
        for name in self.names():
            for provider in self._entries[name].providers().values():
                cards.append(
                    ProviderCard(
                        capability=name,
                        name=provider.name,
                        version=provider.version,
                        owner=provider.owner,
                        description=provider.description,
                        usd_per_call=provider.usd_per_call,
                        usd_per_1k_tokens=Decimal("0"),
                        slo_latency_ms=provider.slo_latency_ms,
                        slo_error_rate=provider.slo_error_rate,
                    )
                )
        return cards

    def prompt(self, name: str, request: BaseModel) -> list[BaseMessage] | None:
        """The model prompt for `request`, or None for a capability without one."""
        entry = self._entries[name]
        return entry.prompt(request) if entry.prompt is not None else None

    async def call(self, name: str, request: BaseModel, *, model: str | None = None) -> Any:
        """Serve `request` with the configured provider and return the validated output.

        Args:
            name: capability name.
            request: an instance of the capability's input model.
            model: `provider:model` for capabilities with a prompt; None means offline.

        Raises:
            CapabilityContractError: the provider's output fails the output contract.
        """
        self.capability(name)
        entry = self._entries[name]
        cap = entry.capability
        if not isinstance(request, cap.input_model):
            raise TypeError(f"{name} expects {cap.input_model.__name__}, got {type(request)}")
        stop = current_stop()
        if stop is not None:  # a kill that landed stops the node at its next call, and after it
            node = _node_name()
            stop.check(node)
            work = self._call_hooked(name, request, model)
            result = await (stop.cancellable(work, node) if stop.cancel_calls else work)
            stop.check(node)
            return result
        return await self._call_hooked(name, request, model)

    async def _call_hooked(self, name: str, request: BaseModel, model: str | None) -> Any:
        hook = current_hook()  # eval recording and replay; see waypoint/capability_hooks.py
        if hook is not None:
            return await hook(
                self,
                name,
                request,
                model,
                lambda: without_hook(self.call(name, request, model=model)),
            )
        return await self._routed(name, request, model)

    async def _serve(
        self, name: str, provider: str, request: BaseModel
    ) -> tuple[Any, int, str, Decimal]:
        """One attempt at one provider: raw output, tokens, version, cost."""
        entry = self._entries[name]
        if provider.startswith("chat:") and entry.prompt is not None:
            spec = provider.removeprefix("chat:")
            chat: BaseChatModel = self.chat_model_factory(spec)
            messages = entry.prompt(request)
            guard = current_guard()
            daily = _daily_budget()
            reservation: Reservation | None = None
            if guard is not None or daily is not None:
                # the worst case first: a call that may cross a budget waits
                texts = [m.text if isinstance(m.text, str) else str(m.content) for m in messages]
                worst = worst_case(spec, chat, texts, self.usd_per_1k_tokens)
                node = _node_name()
                halt = guard.before_model_call(node, worst) if guard is not None else None
                if halt is not None:
                    raise GuardHalt(halt)
                if daily is not None:
                    reservation = await _reserve_daily(node, daily, worst)
            try:
                raw, usage = await ask_for_structured(chat, messages, entry.capability.output_model)
            except Exception:
                if reservation is not None:  # it failed: nothing to charge
                    await reservation.settle(None, 0)
                raise
            except BaseException:
                if reservation is not None:  # cut short (a kill): it may have been charged
                    await reservation.settle_worst()
                raise
            cost = price(spec, usage, self.usd_per_1k_tokens)
            if reservation is not None:
                await reservation.settle(cost or Decimal("0"), usage.total)
            return raw, usage.total, spec, Decimal("0") if cost is None else cost
        chosen = entry.providers()[provider]
        answer: Any = chosen.fn(request)
        if isinstance(answer, Awaitable):
            # Only an async provider can be stopped by its timeout. A plain function has
            # already run to completion here, and wrapping it in `wait_for` (a task per
            # call) cost ≈40 µs of every offline call (bench/suites/routing_overhead.py).
            try:
                answer = await asyncio.wait_for(answer, chosen.timeout_seconds)
            except TimeoutError as exc:
                raise ProviderUnavailable(
                    provider, f"no answer within {chosen.timeout_seconds:g}s"
                ) from exc
        return answer, 0, chosen.version, chosen.usd_per_call

    def _slos(self, name: str) -> tuple[dict[str, float], dict[str, float]]:
        """The latency and error-rate SLOs each registered provider of `name` declares."""
        providers = self._entries[name].providers().values()
        return {p.name: p.slo_latency_ms for p in providers}, {
            p.name: p.slo_error_rate for p in providers
        }

    async def _routed(self, name: str, request: BaseModel, model: str | None) -> Any:
        cap = self._entries[name].capability
        breakers = await shared_breakers()
        healthy: list[str] = []
        skipped: dict[str, str] = {}
        waits: list[tuple[float, str]] = []
        for provider in self.route(name, model):
            if breakers is not None:
                view = await breakers.view(f"{name}/{provider}")
                limited = (view.rate_limited_until or 0) - routing_now()
                if limited > 0:
                    skipped[provider] = f"rate limited for {limited:.1f}s more"
                    waits.append((limited, provider))
                    continue
                if not await breakers.may_call(f"{name}/{provider}"):
                    skipped[provider] = f"breaker {view.state}"
                    continue
            healthy.append(provider)
        if not healthy:
            if waits and min(waits)[0] <= MAX_RETRY_AFTER_WAIT:
                wait, provider = min(waits)
                await asyncio.sleep(wait)  # honour Retry-After when nobody else can serve
                healthy = [provider]
            else:
                raise NoProviderAvailable(
                    name,
                    "no provider may be called: "
                    + "; ".join(f"{p}: {why}" for p, why in skipped.items()),
                )
        health = health_of(breakers.db) if breakers is not None else None
        ranking: Ranking | None = None
        order = healthy
        if len(healthy) > 1:  # a choice to make: on what every process saw, SLOs enforced
            shared = await health.others() if health is not None else None
            ranking = self.router.choose(healthy, shared, *self._slos(name))
            order = ranking.order
        if health is not None and health.due():
            await health.flush(self.router)
        last_error: BaseException | None = None
        for provider in order:
            signals = self.router.of(provider)
            signals.in_flight += 1
            started = time.monotonic()
            try:
                raw, tokens, version, cost = await self._serve(name, provider, request)
                result = validate_output(cap, provider, raw)
            except GuardHalt:
                raise  # a budget refused the call: no other provider is asked
            except RateLimited as exc:
                last_error = exc
                signals.record((time.monotonic() - started) * 1000, failed=True)
                if breakers is not None:
                    await breakers.record_rate_limit(f"{name}/{provider}", exc.retry_after)
                skipped[provider] = str(exc)
                continue
            except Exception as exc:  # a provider's failure is the next provider's turn
                last_error = exc
                signals.record((time.monotonic() - started) * 1000, failed=True)
                if breakers is not None:
                    await breakers.record_failure(f"{name}/{provider}")
                skipped[provider] = f"{type(exc).__name__}: {str(exc)[:120]}"
                continue
            finally:
                signals.in_flight -= 1
            signals.record((time.monotonic() - started) * 1000, failed=False)
            if breakers is not None:
                await breakers.record_success(f"{name}/{provider}")
            reason = self.router.explain(provider, skipped, ranking)
            report_call(name, provider, version, reason, tokens, cost)
            return result
        assert last_error is not None
        raise last_error


def report_call(
    capability: str, provider: str, version: str, reason: str, tokens: int, cost: Decimal
) -> None:
    """Tell the run's ledger and guard about a capability call (no-op outside a runner run)."""
    from waypoint.ledger import current_recorder

    recorder = current_recorder()
    if recorder is None:
        return
    metadata = get_config().get("metadata", {})
    recorder.on_capability_call(
        str(metadata.get("langgraph_node", "?")),
        int(metadata.get("langgraph_step", -1)),
        capability=capability,
        provider=provider,
        version=version,
        routing_reason=reason,
        tokens=tokens,
        cost=cost,
        task=metadata.get("langgraph_checkpoint_ns"),
    )


def validate_output(capability: Capability[Any, OutT], provider: str, raw: Any) -> OutT:
    """Check a provider's answer against the output contract."""
    try:
        if isinstance(raw, capability.output_model):
            return capability.output_model.model_validate(raw.model_dump())
        return capability.output_model.model_validate(raw)
    except ValidationError as exc:
        raise CapabilityContractError(capability.name, provider, str(exc)) from exc


async def flush_health(db: Database, *, force: bool = False) -> None:
    """Write this process's provider signals to `db` if due (`waypoint.provider_health`)."""
    health = health_of(db)
    if force or health.due():
        await health.flush(registry.router, force=force)


registry = CapabilityRegistry()
"""The process-wide registry; workflows register their capabilities into it at import."""

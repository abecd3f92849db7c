"""``@recorder.decision(stream=..., model=...)``: record every call of a
function (sync or ``async``) as a decision, in one line.

What is recorded for a call:

- ``input``: the call's arguments by parameter name (defaults applied, ``self``
  and ``cls`` left out), or what ``input_from(*args, **kwargs)`` returns;
- ``output``: the return value, or what ``output_from(result)`` returns; when
  the function raises, ``{"error": "<Type>: <message>"}`` and the
  ``error`` attribute, and the exception propagates unchanged;
- ``latency_ms``: the call's wall-clock time; ``model``: as given;
- ``decision`` and ``score``: from ``label_from(result)`` and
  ``score_from(result)`` when given;
- per-call fields (``subject``, ``request_id``, ``session``, ``trace_id``, ...)
  from ``fields_from(*args, **kwargs)``, which returns a dict of them;
- any other keyword (``operation``, ``params``, ``attributes``, ...) as a fixed
  field of every decision.

Numpy arrays and scalars are written with their ``tolist()``.
The function's result is returned as it is; the decision's future is handed to
``on_receipt`` when given.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, TypeVar, cast

from .types import Decision, Model, Receipt

if TYPE_CHECKING:
    from .recorder import Recorder

F = TypeVar("F", bound=Callable[..., Any])


def _model(model: Model | tuple[str, str] | dict[str, str]) -> Model:
    if isinstance(model, Model):
        return model
    if isinstance(model, tuple):
        return Model(*model)
    return Model(model["name"], model["version"], model.get("digest"))


def decision(
    recorder: Recorder,
    stream: str,
    model: Model | tuple[str, str] | dict[str, str],
    *,
    input_from: Callable[..., Any] | None = None,
    output_from: Callable[[Any], Any] | None = None,
    label_from: Callable[[Any], str | None] | None = None,
    score_from: Callable[[Any], float | None] | None = None,
    fields_from: Callable[..., dict[str, Any]] | None = None,
    on_receipt: Callable[[Future[Receipt]], None] | None = None,
    **fixed: Any,
) -> Callable[[F], F]:
    """The decorator behind :meth:`cairn.Recorder.decision`."""
    the_model = _model(model)

    def wrap(fn: F) -> F:
        signature = inspect.signature(fn)

        def inputs(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            if input_from is not None:
                return input_from(*args, **kwargs)
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            return {k: v for k, v in bound.arguments.items() if k not in ("self", "cls")}

        def record(
            args: tuple[Any, ...],
            kwargs: dict[str, Any],
            started: float,
            result: Any,
            error: BaseException | None,
        ) -> None:
            per_call = fields_from(*args, **kwargs) if fields_from is not None else {}
            d = Decision(stream, the_model, inputs(args, kwargs), None, **{**fixed, **per_call})
            d.latency_ms = (time.perf_counter() - started) * 1000
            if error is not None:
                d.output = {"error": f"{type(error).__name__}: {error}"}
                d.attributes = {**d.attributes, "error": type(error).__name__}
            else:
                d.output = output_from(result) if output_from is not None else result
                if label_from is not None:
                    d.decision = label_from(result)
                if score_from is not None:
                    score = score_from(result)
                    d.score = None if score is None else float(score)
            fut = recorder.record(d)
            if on_receipt is not None:
                on_receipt(fut)

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                try:
                    result = await fn(*args, **kwargs)
                except Exception as e:
                    record(args, kwargs, started, None, e)
                    raise
                record(args, kwargs, started, result, None)
                return result

            return cast(F, async_wrapper)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                result = fn(*args, **kwargs)
            except Exception as e:
                record(args, kwargs, started, None, e)
                raise
            record(args, kwargs, started, result, None)
            return result

        return cast(F, wrapper)

    return wrap

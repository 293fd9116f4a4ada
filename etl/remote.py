"""Tasks as the Dask scheduler sees them: one light function and bytes it never opens.

The scheduler unpickles every task it is given. A task that named the engine's functions and
carried specs, partitions and sink writers made it import tuskflow's engine with pyarrow,
pandas and psycopg: 46 MB idle, 123 MB after the first job, for good. Here each task is
``run(payload, *inputs)``: its function and every argument that is not a future are pickled
on the client into ``payload``, opened on the worker only; the futures stay outside it, so
the scheduler still routes each task's inputs and places it by them. Tasks keep their
function's name as their key prefix, as Dask's dashboard shows them.
"""

import uuid
from collections.abc import Callable, Iterable
from typing import Any

import cloudpickle
from distributed import Client, Future


class _Input:
    """Where a future's value goes back among the arguments (pickled by reference)."""


def run(payload: bytes, *inputs: Any, **future_kwargs: Any) -> Any:
    """On a worker: call the pickled function with its arguments, the inputs put back."""
    fn, template, kwargs = cloudpickle.loads(payload)
    values = iter(inputs)
    args = [next(values) if each is _Input else each for each in template]
    return fn(*args, **kwargs, **future_kwargs)


def submit_task(client: Client, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future[Any]:
    """``client.submit(fn, *args, **kwargs)`` (impure), with the scheduler kept light."""
    payload, inputs, future_kwargs = _packed(fn, args, kwargs)
    key = f"{_name(fn)}-{uuid.uuid4().hex}"
    submit: Any = client.submit  # distributed types its keywords; futures pass as any of them
    future: Future[Any] = submit(run, payload, *inputs, key=key, pure=False, **future_kwargs)
    return future


def map_tasks(
    client: Client, fn: Callable[..., Any], *iterables: Iterable[Any], **kwargs: Any
) -> list[Future[Any]]:
    """``client.map(fn, *iterables, **kwargs)`` (impure), with the scheduler kept light: one
    graph update for all, as client.map sends. An iterable holds futures or none."""
    packed = [_packed(fn, args, kwargs) for args in zip(*iterables, strict=True)]
    if not packed:
        return []
    payloads = [payload for payload, _, _ in packed]
    inputs = list(zip(*(each for _, each, _ in packed), strict=True))
    future_kwargs = packed[0][2]
    mapper: Any = client.map  # as in submit_task
    return list(mapper(run, payloads, *inputs, key=_name(fn), pure=False, **future_kwargs))


def _packed(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[bytes, list[Future[Any]], dict[str, Future[Any]]]:
    template = [_Input if isinstance(each, Future) else each for each in args]
    inputs = [each for each in args if isinstance(each, Future)]
    future_kwargs = {k: v for k, v in kwargs.items() if isinstance(v, Future)}
    fixed = {k: v for k, v in kwargs.items() if not isinstance(v, Future)}
    return cloudpickle.dumps((fn, template, fixed)), inputs, future_kwargs


def _name(fn: Callable[..., Any]) -> str:
    inner = getattr(fn, "func", fn)  # a functools.partial shows the function it wraps
    return str(getattr(inner, "__name__", "task")).strip("_") or "task"

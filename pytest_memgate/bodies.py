"""How a pytest test becomes the body the gate calls: one call is one unit of work.

A plain test function is bound to its fixture values. A coroutine function is awaited on
an event loop that the measuring child owns: created lazily inside the child (during the
warm-up, so its own allocations are not measured as growth) and reused for every call.
pytest-asyncio hands the gate an already synchronous wrapper that runs on its own loop,
so those tests need nothing here.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import os
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

Body = Callable[[], object]


class AsyncBody:
    """Awaits ``function(**kwargs)`` once per call on a loop owned by the current process.

    The loop is keyed by process id: a loop copied into a forked child from the parent
    shares the parent's selector, so each child makes its own.
    """

    def __init__(
        self, function: Callable[..., Coroutine[Any, Any, object]], kwargs: Mapping[str, object], backend: str
    ) -> None:
        self.function = function
        self.kwargs = dict(kwargs)
        self.backend = backend
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0

    def __call__(self) -> object:
        if self.backend == "trio":
            import trio

            return trio.run(functools.partial(self.function, **self.kwargs))
        if self._loop is None or self._pid != os.getpid():
            self._loop = asyncio.new_event_loop()
            self._pid = os.getpid()
        return self._loop.run_until_complete(self.function(**self.kwargs))


def anyio_backend(funcargs: Mapping[str, object]) -> str:
    """The backend an anyio test asked for (``anyio_backend`` fixture), else asyncio."""
    value = funcargs.get("anyio_backend", "asyncio")
    name = value[0] if isinstance(value, tuple) else value
    return str(name)


def make_body(function: Callable[..., object], funcargs: Mapping[str, object]) -> Body:
    """``function`` with its arguments bound. ``funcargs`` also holds autouse fixtures the
    function does not take, so the function's own parameters pick what to pass (a bound
    method has no ``self`` here)."""
    names = [n for n in inspect.signature(function).parameters if n in funcargs]
    kwargs = {name: funcargs[name] for name in names}
    if inspect.iscoroutinefunction(function):
        return AsyncBody(function, kwargs, anyio_backend(funcargs))
    return functools.partial(function, **kwargs)

"""Regression: some requests leave their event listener subscribed.

A notification hub lets each in-flight request listen for the events of its own order.
``before`` unsubscribes in a ``finally`` block. ``after`` added a fast path for orders
that are already delivered (one request in ten), which returns before the
``unsubscribe()`` at the end of the slow path: those requests leave their listener, and
the closure with the request context it captured, on the bus for good.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable

from . import Pair, Unit

Listener = Callable[[dict[str, object]], None]
REQUESTS_PER_CALL = 800
DELIVERED_EVERY = 10


class EventBus:
    def __init__(self) -> None:
        self._listeners: defaultdict[str, list[Listener]] = defaultdict(list)

    def subscribe(self, topic: str, listener: Listener) -> Callable[[], None]:
        self._listeners[topic].append(listener)

        def unsubscribe() -> None:
            listeners = self._listeners[topic]
            listeners.remove(listener)
            if not listeners:
                del self._listeners[topic]

        return unsubscribe

    def publish(self, topic: str, event: dict[str, object]) -> int:
        listeners = self._listeners.get(topic, ())
        for listener in listeners:
            listener(event)
        return len(listeners)


class OrderStatusHandler:
    def __init__(self, always_unsubscribe: bool) -> None:
        self._bus = EventBus()
        self._always_unsubscribe = always_unsubscribe
        self._next_order = 0

    def _respond(self, order_id: int, seen: list[object]) -> str:
        return json.dumps({"order_id": order_id, "history": seen, "links": {"self": f"/orders/{order_id}"}})

    def _handle_slow(self, order_id: int, context: dict[str, object], seen: list[object]) -> str:
        for status in ("paid", "packed", "shipped"):
            self._bus.publish(f"order/{order_id}", {"order_id": order_id, "status": status})
        return self._respond(order_id, seen) + str(len(context))

    def _handle(self, order_id: int) -> str:
        seen: list[object] = []
        context: dict[str, object] = {
            "order_id": order_id,
            "user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)",
            "headers": {f"x-header-{k}": f"value-{order_id}-{k}" for k in range(8)},
        }

        def on_event(event: dict[str, object]) -> None:
            seen.append(event["status"])
            context["last_status"] = event["status"]

        unsubscribe = self._bus.subscribe(f"order/{order_id}", on_event)
        if self._always_unsubscribe:
            try:
                if order_id % DELIVERED_EVERY == 0:
                    return self._respond(order_id, ["delivered"])
                return self._handle_slow(order_id, context, seen)
            finally:
                unsubscribe()
        if order_id % DELIVERED_EVERY == 0:
            return self._respond(order_id, ["delivered"])  # fast path: the listener stays
        response = self._handle_slow(order_id, context, seen)
        unsubscribe()
        return response

    def __call__(self) -> int:
        size = 0
        for _ in range(REQUESTS_PER_CALL):
            self._next_order += 1
            size += len(self._handle(self._next_order))
        return size


def before() -> Unit:
    return OrderStatusHandler(always_unsubscribe=True)


def after() -> Unit:
    return OrderStatusHandler(always_unsubscribe=False)


PAIR = Pair(
    name="listener_leak",
    kind="regression",
    expected=("regression",),
    reason="growth",
    summary="event bus: fast path returns before unsubscribe (1 request in 10 leaks its listener)",
    before=before,
    after=after,
    iterations=50,
    warmup=10,
)

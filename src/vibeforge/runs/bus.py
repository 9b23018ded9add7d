"""The event bus: fan-out of events to bounded subscriber queues.

In-process by default. The interface (publish, subscribe, follow) is what a Redis pub/sub
implementation provides for scale-out; runs and transports only see `EventBus`.
A subscriber that falls behind is cut off, never buffered without bound: its queue is capped,
and on overflow the subscription closes with `overflowed` set so the transport can tell the
client (WebSocket close code 4008) to reconnect and replay with `after_seq`.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from typing import Protocol

from vibeforge.runs.events import Event

DEFAULT_QUEUE_SIZE = 2048


def session_topic(session_id: str) -> str:
    """The topic of one session's events."""
    return f"session:{session_id}"


def project_topic(project_id: str) -> str:
    """The topic of every event in a project."""
    return f"project:{project_id}"


class Subscription:
    """A bounded queue of events for one consumer, following one or more topics."""

    def __init__(self, maxsize: int = DEFAULT_QUEUE_SIZE) -> None:
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize)
        self.maxsize = maxsize
        self.topics: set[str] = set()
        self.closed = False
        self.overflowed = False
        # Called once when the consumer falls too far behind, so it can be cut off at once
        # even while it is blocked writing to a client that stopped reading.
        self.on_overflow: Callable[[], None] | None = None

    def offer(self, event: Event) -> None:
        """Queue an event without waiting; on overflow the subscription closes."""
        if self.closed:
            return
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.cut_off()

    def cut_off(self) -> None:
        """Close as if overflowed: the consumer's client must reconnect and replay."""
        if self.closed:
            return
        self.overflowed = True
        self._close_now()
        if self.on_overflow is not None:
            self.on_overflow()

    def _close_now(self) -> None:
        self.closed = True
        # Wake the consumer even when the queue is full: drop one event to make room.
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(None)

    async def get(self) -> Event | None:
        """The next event, or None once the subscription is closed."""
        if self.closed and self._queue.empty():
            return None
        return await self._queue.get()

    def pending(self) -> int:
        """How many events wait for the consumer."""
        return self._queue.qsize()

    def get_nowait(self) -> Event | None:
        """The next queued event if one is ready, else None."""
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None


class EventBus(Protocol):
    """Publishes events to the subscriptions that follow their topics."""

    def publish(self, event: Event) -> None:
        """Deliver an event to every follower of its session and project."""
        ...

    def subscribe(self, maxsize: int = DEFAULT_QUEUE_SIZE) -> Subscription:
        """A new subscription following no topic yet."""
        ...

    def follow(self, subscription: Subscription, topic: str) -> None:
        """Add a topic to a subscription."""
        ...

    def unsubscribe(self, subscription: Subscription) -> None:
        """Stop delivering to a subscription and close it."""
        ...

    def backlog(self) -> int:
        """Events published but not yet taken by their consumers (a graceful stop waits)."""
        ...


class InProcessBus:
    """The bus of a single server process."""

    def __init__(self) -> None:
        self._followers: defaultdict[str, set[Subscription]] = defaultdict(set)

    def publish(self, event: Event) -> None:
        """Deliver to followers of the event's session or project, each once."""
        project = self._followers.get(project_topic(event.project_id))
        session = (
            self._followers.get(session_topic(event.session_id))
            if event.session_id is not None
            else None
        )
        # A subscriber of both the project and the session gets the event once.
        targets = project | session if project and session else project or session or ()
        for subscription in targets:
            subscription.offer(event)

    def subscribe(self, maxsize: int = DEFAULT_QUEUE_SIZE) -> Subscription:
        """A new subscription following no topic yet."""
        return Subscription(maxsize)

    def follow(self, subscription: Subscription, topic: str) -> None:
        """Add a topic to a subscription."""
        subscription.topics.add(topic)
        self._followers[topic].add(subscription)

    def unsubscribe(self, subscription: Subscription) -> None:
        """Stop delivering to a subscription."""
        for topic in subscription.topics:
            followers = self._followers.get(topic)
            if followers is not None:
                followers.discard(subscription)
                if not followers:
                    del self._followers[topic]
        subscription.topics.clear()
        subscription.closed = True

    def backlog(self) -> int:
        """Events queued for subscribers and not yet taken."""
        followers: set[Subscription] = set().union(*self._followers.values())
        return sum(subscription.pending() for subscription in followers)

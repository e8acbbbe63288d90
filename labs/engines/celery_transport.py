"""kombu's Redis transport with one addition: a delivery's ``MULTI`` can carry the lab's commands.

With ``acks_late`` kombu books every message it hands to the worker in its unacked set, in a transaction
of its own (``QoS.append``), before Celery sees the task. The lab's ``started`` for a solo worker's fresh
delivery goes in that same transaction (:data:`on_delivery`, set by :mod:`labs.engines.celery`): no round
trip and no socket write of its own, where a separate append cost a tenth of a no-op job's time.
The channel also keeps one synchronous client where kombu made a new one per booking and per ack.
Everything else is kombu's own transport, unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from time import time
from typing import Any

from kombu.transport import redis as kombu_redis
from kombu.utils.json import dumps

Commands = tuple[tuple[Any, ...], ...]
on_delivery: Callable[[Any], tuple[Commands, Callable[[list[Any]], None]] | None] | None = None
"""``message -> (commands, done)`` or None: the commands ride in the delivery's transaction and
``done(replies)`` gets their replies (errors included: kombu's own booking has succeeded by then)."""


class LabQoS(kombu_redis.QoS):
    def append(self, message: Any, delivery_tag: str) -> None:
        """kombu's ``QoS.append`` (the unacked index and the message), plus the lab's commands in its ``MULTI``."""
        extra = on_delivery(message) if on_delivery is not None else None
        delivery = message.delivery_info
        with self.pipe_or_acquire() as pipe:
            pipe.zadd(self.unacked_index_key, {delivery_tag: time()})
            pipe.hset(self.unacked_key, delivery_tag, dumps([message._raw, delivery["exchange"], delivery["routing_key"]]))
            for command in extra[0] if extra else ():
                pipe.execute_command(*command)
            replies = pipe.execute(raise_on_error=False)
            for reply in replies[:2]:
                if isinstance(reply, Exception):
                    raise reply  # kombu's own booking failed: as kombu would
            super(kombu_redis.QoS, self).append(message, delivery_tag)  # what kombu's append calls after its write
        if extra:
            extra[1](replies[2:])


class LabChannel(kombu_redis.Channel):
    QoS = LabQoS
    _sync_client: Any = None

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        """kombu's, but one client per channel and pool: kombu builds a new ``redis.Redis`` for every
        booking and every ack (py-spy: ~30 µs a job, a tenth of what the lab's events cost)."""
        if client:
            yield client
            return
        pool = self.pool
        if self._sync_client is None or self._sync_client.connection_pool is not pool:  # a reconnect made a new pool
            self._sync_client = self._create_client()
        yield self._sync_client


class LabTransport(kombu_redis.Transport):
    Channel = LabChannel

"""Store round trips per request on the Redis store, counted two ways.

- Round trips: the gateway talks to Redis through a counting TCP relay. A round trip is one burst of bytes
  from the client that follows a reply (or opens the connection): a pipeline or one EVALSHA is one, however
  many commands it carries.
- Commands: `INFO commandstats` before and after. Redis counts the commands a Lua script runs as well, so
  this column says what the work is, not how often the gateway waited.

Counted over K sequential, uncontended requests after a warm-up, so background timers (lease renewals) add
at most a fraction per request.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from dataclasses import dataclass
from urllib.parse import urlsplit

import redis
from loadgen import latency


class CountingRelay:
    """A TCP relay on a free loopback port in a background thread, counting client round trips."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.round_trips = 0
        self.port = 0
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._run, daemon=True, name="redis-relay").start()
        self._ready.wait(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._connection, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _connection(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(*self.target)
        awaiting_request = [True]  # the next client bytes start a new round trip

        async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, from_client: bool) -> None:
            while data := await reader.read(65536):
                if from_client and awaiting_request[0]:
                    self.round_trips += 1
                awaiting_request[0] = not from_client
                writer.write(data)
                await writer.drain()
            writer.close()

        try:
            await asyncio.gather(pump(client_r, server_w, True), pump(server_r, client_w, False))
        except (ConnectionError, OSError):  # either side went away: the relay only forwards
            client_w.close()
            server_w.close()

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)


def command_calls(url: str) -> Counter[str]:
    """Calls per command since the server started (`cmdstat_evalsha:calls=12,...`)."""
    client = redis.Redis.from_url(url.split("?", 1)[0])  # the store's own query parameters are not redis-py's
    try:
        stats = client.info("commandstats")
    finally:
        client.close()
    return Counter({name.removeprefix("cmdstat_"): int(fields["calls"]) for name, fields in stats.items()})


@dataclass(frozen=True)
class StoreCost:
    requests: int
    round_trips: float
    commands: dict[str, float]


def relay_url(redis_url: str, relay: CountingRelay) -> str:
    parts = urlsplit(redis_url)
    return f"redis://127.0.0.1:{relay.port}{parts.path}"


def count(redis_url: str, relay: CountingRelay, chat_url: str, requests: int) -> StoreCost:
    """Round trips and commands per request while `requests` sequential chat calls went through the gateway."""
    latency(chat_url, 1, warmup=20)  # accounts loaded, models listed, connections open
    before, trips = command_calls(redis_url), relay.round_trips
    latency(chat_url, requests, warmup=0)
    trips, after = relay.round_trips - trips, command_calls(redis_url)
    after["info"] -= 1  # our own INFO
    spent = {name: (after[name] - before[name]) / requests for name in after if after[name] > before[name]}
    return StoreCost(requests, trips / requests, dict(sorted(spent.items(), key=lambda item: -item[1])))

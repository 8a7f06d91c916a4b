"""What a server process has used, read from /proc (Linux): peak memory since a reset, bytes it has read, CPU
time per thread. These measures do not depend on how loaded the machine is, unlike wall-clock time, so tests
can bound them; `HealthWatch` checks that a server keeps answering while a test attacks it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx

MiB = 1024 * 1024


def reset_peak(pid: int) -> None:
    """Start the peak-memory mark (VmHWM) again from the current resident size."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def peak_rss(pid: int) -> int:
    """The most resident memory, in bytes, since the process started or `reset_peak`."""
    return _status_kib(pid, "VmHWM") * 1024


def rss(pid: int) -> int:
    return _status_kib(pid, "VmRSS") * 1024


def bytes_read(pid: int) -> int:
    """Every byte the process has read (files, sockets, pipes): `rchar` of /proc/<pid>/io."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise KeyError("rchar")


def _ticks(stat: str) -> int:
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks


def cpu_ticks(pid: int) -> int:
    """CPU time of the whole process, threads that have ended included."""
    return _ticks(Path(f"/proc/{pid}/stat").read_text())


def main_thread_ticks(pid: int) -> int:
    """CPU time of the process's main thread: where uvicorn runs the event loop."""
    return _ticks(Path(f"/proc/{pid}/task/{pid}/stat").read_text())


class HealthWatch:
    """Polls `GET /health` in a thread until stopped; every probe must answer 200 within `deadline` seconds.
    `worst` is the slowest answer seen (for benchmarks; tests only check that every probe answered)."""

    def __init__(self, url: str, deadline: float = 10.0, every: float = 0.05) -> None:
        self.url, self.deadline, self.every = url, deadline, every
        self.probes = 0
        self.failures: list[str] = []
        self.worst = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=self.deadline) as client:
            while True:  # at least one probe, however short the attack
                started = time.perf_counter()
                try:
                    status = client.get(f"{self.url}/health").status_code
                    if status != 200:
                        self.failures.append(f"status {status}")
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                self.worst = max(self.worst, time.perf_counter() - started)
                self.probes += 1
                if self._stop.wait(self.every):
                    return

    def __enter__(self) -> HealthWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self.deadline + 5)

"""How inferences share the process's CPUs: OpenMP teams start only when their CPUs are free.

An OpenMP team advances through every layer's barrier at the pace of its slowest
thread; when two teams share cores, each keeps waiting for a thread the OS has
descheduled in favour of the other team. :data:`PROCESS_CPUS` therefore lets an
inference whose team has several threads start only once that many of the
process's CPUs are not taken by other running inferences (of any network);
otherwise it waits, and waiting inferences start in arrival order. A one-thread
inference has no barriers to stall: it starts at once unless others are waiting
before it, and counts as one CPU taken while it runs.
"""

import collections
import contextlib
import os
import threading

__all__ = ["CpuBudget", "PROCESS_CPUS", "process_cpu_count"]


def process_cpu_count():
    """The CPUs this process may run on (its affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class CpuBudget:
    """The CPUs running inferences hold, and the inferences waiting for theirs (FIFO)."""

    def __init__(self, cpus):
        self.cpus = cpus
        self.busy = 0
        self._waiting = collections.deque()
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)

    @property
    def waiting(self):
        """How many inferences wait for CPUs."""
        return len(self._waiting)

    def _fits(self, weight):
        return weight == 1 or self.busy + weight <= self.cpus

    def acquire(self, threads):
        """Wait until a team of ``threads`` may start; returns the CPUs it holds (pass them to release)."""
        weight = max(1, min(threads, self.cpus))
        with self._lock:  # the condition's lock, taken without the Condition's Python-level wrapper
            if not self._waiting and self._fits(weight):
                self.busy += weight
                return weight
            ticket = object()
            self._waiting.append(ticket)
            while self._waiting[0] is not ticket or not self._fits(weight):
                self._cond.wait()
            self._waiting.popleft()
            self.busy += weight
            self._cond.notify_all()  # the next in line may fit too
            return weight

    def release(self, weight):
        with self._lock:
            self.busy -= weight
            if self._waiting:
                self._cond.notify_all()

    @contextlib.contextmanager
    def held(self, threads):
        """The CPUs of a team of ``threads`` held for the ``with`` block."""
        weight = self.acquire(threads)
        try:
            yield
        finally:
            self.release(weight)


#: the process-wide budget every compiled network's inferences draw from
PROCESS_CPUS = CpuBudget(process_cpu_count())

"""The asynchronous pipeline the core runs for every request: stages, each on its executor.

A device describes one inference as a list of :class:`Stage` s
(:meth:`~ie_core.backend.BackendRequest.stages`): "run on my stream's thread",
"enqueue on my device queue" then "wait for the device", or for HETERO the stages
of its sub-requests one after another. :func:`start_stages` runs them
asynchronously, each on its stage's :class:`TaskExecutor`, handing each stage's
result to the next; :func:`run_stages` runs them on the calling thread (a
synchronous ``infer()``). Because the executors belong to the devices and not to
the requests, two requests of a HETERO network pipeline across devices: the
second one's first stage runs while the first one's second stage does.
"""

import functools
import queue
import threading
import weakref
from typing import Callable, NamedTuple, Optional

from .errors import InferenceError


class Stage(NamedTuple):
    """One step of an inference: ``run(value)`` returns the value the next stage gets.

    The first stage gets the request's inputs (name -> tensor); the last returns its
    outputs. ``executor`` is the :class:`TaskExecutor` the stage runs on when the
    inference is asynchronous; None runs it on the thread that ran the previous one.
    ``inline`` (for stages that take less time than handing them to another thread,
    e.g. a tiny network's whole inference): run on the thread that ran the previous
    one, or on the thread that started the inference, instead of ``executor`` -
    except when that thread is inside a stage or a completion callback (a callback
    that restarts its request), where it is queued on ``executor`` as usual.
    """

    executor: Optional["TaskExecutor"]
    run: Callable
    inline: bool = False


_worker = threading.local()


class TaskExecutor:
    """Worker threads serving one queue of tasks, started on the first :meth:`submit`.

    ``on_start(index)`` runs first in each worker thread (``index`` 0 .. workers-1),
    e.g. to pin it. The threads hold no reference to the executor: when it is
    garbage, or :meth:`close` is called, tasks not yet started are cancelled (their
    ``cancel`` callable is called) and the threads end; a task submitted after
    :meth:`close` is cancelled at once.
    """

    def __init__(self, name, workers=1, on_start=None):
        self.name = name
        self.workers = workers
        self._on_start = on_start
        self._queue = None
        self._lock = threading.Lock()
        self._finalizer = None
        self._closed = False

    def submit(self, task, cancel=None):
        """Run ``task()`` on a worker thread; ``cancel()`` is called instead if the executor closes first
        (at once when it is closed already)."""
        with self._lock:
            if not self._closed:
                if self._queue is None:
                    jobs = queue.SimpleQueue()
                    for index in range(self.workers):
                        threading.Thread(target=_serve, args=(jobs, self._on_start, index, id(self)),
                                         name=f"{self.name}-{index}", daemon=True).start()
                    self._finalizer = weakref.finalize(self, _shutdown, jobs, self.workers)
                    self._queue = jobs
                self._queue.put((task, cancel))
                return
        if cancel is not None:
            cancel()

    def is_current(self):
        """Whether the calling thread is one of this executor's workers."""
        return getattr(_worker, "owner", None) == id(self)

    @staticmethod
    def worker_index():
        """The index of the calling worker thread in its executor, or None outside a worker."""
        return getattr(_worker, "index", None)

    def close(self):
        """Cancel the tasks not yet started and end the threads (after their current task); tasks
        submitted afterwards are cancelled at once."""
        with self._lock:
            self._closed = True
        if self._finalizer is not None:
            self._finalizer()


def _serve(jobs, on_start, index, owner):
    _worker.index, _worker.owner = index, owner
    if on_start is not None:
        on_start(index)
    while True:
        job = jobs.get()
        if job is None:
            return
        task = job[0]
        del job
        task()
        del task


def _shutdown(jobs, workers):
    while True:
        try:
            job = jobs.get_nowait()
        except queue.Empty:
            break
        if job is not None and job[1] is not None:
            job[1]()
    for _ in range(workers):
        jobs.put(None)


def run_stages(stages, value):
    """Run ``stages`` one after another on the calling thread; returns the last one's result."""
    for stage in stages:
        value = stage.run(value)
    return value


def start_stages(stages, value, on_done):
    """Run ``stages`` asynchronously, each on its executor; then ``on_done(result, None)``,
    or ``on_done(None, exc)`` when a stage raises or is cancelled. Returns at once (or,
    for :attr:`Stage.inline` stages, once they ran).

    Called from a stage or an ``on_done`` of this thread (a completion callback that
    restarts its request), the first stage with an executor is queued on it even when
    that executor is this thread's: running it here would nest one inference in the
    previous one's call stack, without bound.
    """
    _advance(stages, 0, value, on_done, queue_first=getattr(_running, "depth", 0) > 0)


_running = threading.local()  # depth: the stages and on_done calls this thread is inside


def _advance(stages, i, value, on_done, queue_first=False):
    _running.depth = getattr(_running, "depth", 0) + 1
    try:
        while i < len(stages):
            stage = stages[i]
            executor = stage.executor
            if executor is not None and (queue_first or not (stage.inline or executor.is_current())):
                executor.submit(
                    functools.partial(_advance_here, stages, i, value, on_done),
                    functools.partial(_cancelled, on_done),
                )
                return
            try:
                value = stage.run(value)
            except BaseException as exc:  # noqa: BLE001  (reported through wait()'s status)
                on_done(None, exc)
                return
            i += 1
        on_done(value, None)
    finally:
        _running.depth -= 1


def _cancelled(on_done):
    on_done(None, InferenceError("the inference was cancelled: its network was released"))


def _advance_here(stages, i, value, on_done):
    _running.depth = getattr(_running, "depth", 0) + 1
    try:
        value = stages[i].run(value)
    except BaseException as exc:  # noqa: BLE001  (reported through wait()'s status)
        on_done(None, exc)
        return
    finally:
        _running.depth -= 1
    _advance(stages, i + 1, value, on_done)

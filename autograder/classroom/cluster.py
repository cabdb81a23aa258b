"""Where grade-all's tasks run: a Dask cluster, started here (`--jobs N`) or reached at its scheduler
(`--scheduler tcp://HOST:8786`). Both take the same path: one task per submission, results handed back
as they complete, one progress bar for the whole cluster.

Dask does the distributed part: a task whose worker dies is rescheduled on another worker (up to the
scheduler's `distributed.scheduler.allowed-failures`, 3 by default, then it errs with KilledWorker),
and a task that raises is retried RETRIES times. On Ctrl-C the running grades are asked to stop (a Dask
Event they poll), the other tasks are cancelled, and the client and any local cluster are closed.
"""
from __future__ import annotations

import logging
import signal
import sys
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace

from distributed import Client, Event, LocalCluster, WorkerPlugin, as_completed
from distributed.comm import get_address_host
from distributed.scheduler import KilledWorker
from tqdm import tqdm

from .worker import GradeTask, TaskResult, grade_task

RETRIES = 2  # a task that raises (a worker's disk full, say) is tried again, perhaps on another worker
CONNECT_TIMEOUT_S = 10


class KeepWorkersOnSigint(WorkerPlugin):
    """A local cluster's worker processes share grade-all's terminal. Ctrl-C is for grade-all, and for
    the grading processes, which see it too and clean up their sandboxes; a worker that died of it
    would print a traceback. A no-op handler rather than SIG_IGN: the grading processes it starts get
    the default disposition back when they exec."""

    def setup(self, worker) -> None:
        signal.signal(signal.SIGINT, lambda signum, frame: None)


@contextmanager
def connect(scheduler: str | None, jobs: int) -> Iterator[Client]:
    """A client of the cluster at `scheduler`, or of a local one with `jobs` worker processes of one
    task each; closed (and the local cluster shut down) on the way out."""
    cluster = None
    if scheduler is None:
        # memory_limit=0: the sandbox limits each grade; a worker itself only waits on a subprocess
        cluster = LocalCluster(n_workers=max(1, jobs), threads_per_worker=1, processes=True, memory_limit=0,
                               dashboard_address=None, silence_logs=logging.ERROR)
        client = Client(cluster)
        client.register_plugin(KeepWorkersOnSigint(), name="cnn-keep-workers-on-sigint")
    else:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as err:
            raise SystemExit(f"error: no Dask scheduler answered at {scheduler} within {CONNECT_TIMEOUT_S} s "
                             f"({err}); start one with `dask scheduler` and workers with `dask worker {scheduler}` "
                             "(docs/instructors.md)") from None
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def slots_by_host(client: Client) -> dict[str, int]:
    """host -> how many grades its workers run at once; waits for the first worker to join."""
    if not client.nthreads():
        print(f"Waiting for a worker to join the scheduler at {client.scheduler.address} ...", file=sys.stderr)
        client.wait_for_workers(1)
    slots: Counter = Counter()
    for address, nthreads in client.nthreads().items():
        slots[get_address_host(address)] += nthreads
    return dict(slots)


def outcome(future, name: str) -> TaskResult:
    """The TaskResult of a finished future, or one whose status says why the cluster could not grade it."""
    if future.status == "finished":
        return future.result()
    if future.status == "cancelled":
        return TaskResult(name, "cancelled on the cluster; rerun to grade it", 0.0)
    err = future.exception()
    if isinstance(err, KilledWorker):
        return TaskResult(name, "worker lost: every Dask worker that ran it died (KilledWorker); rerun to retry",
                          0.0)
    message = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
    return TaskResult(name, f"task failed on the cluster: {type(err).__name__}: {message}", 0.0)


def run_tasks(client: Client, tasks: list[GradeTask], on_result: Callable[[TaskResult], None]) -> None:
    """Grade `tasks` on the cluster, calling `on_result` as each completes, under one progress bar.
    KeyboardInterrupt stops the running grades, cancels the rest and propagates."""
    if not tasks:
        return
    stop, run = f"cnn-grade-all-stop-{uuid.uuid4().hex}", uuid.uuid4().hex[:8]
    slots = slots_by_host(client)
    futures = {}
    bar = tqdm(total=len(tasks), desc="grading", unit="submission")
    try:
        for task in tasks:
            future = client.submit(grade_task, replace(task, slots=slots, stop=stop), key=f"grade-{task.name}-{run}",
                                   retries=RETRIES, pure=False)
            futures[future] = task.name
        bar.set_postfix(workers=len(client.nthreads()))
        for future in as_completed(futures):
            on_result(outcome(future, futures.pop(future)))  # dropping the future frees its result on the cluster
            bar.update()
            bar.set_postfix(workers=len(client.nthreads()))
    except KeyboardInterrupt:
        Event(stop, client=client).set()  # stays set on the scheduler until the grades still running see it
        client.cancel(list(futures))
        raise
    finally:
        bar.close()

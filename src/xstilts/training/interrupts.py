"""Preemption: SIGTERM (what Slurm and Kubernetes send) and SIGINT (Ctrl-C) during a run ask
it to stop at the next step boundary, after writing a checkpoint, instead of losing the steps
since the last one. A second signal stops at once."""

from __future__ import annotations

import signal
import threading

from xstilts.console import console

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Interrupted(Exception):
    """The run stopped on a signal with its state on disk; rerunning the same command resumes it."""

    def __init__(self, signum: int):
        super().__init__("interrupted; rerun the same command to resume")
        self.signum = signum


class StopRequests:
    """While entered, the stop signals set `signum` instead of ending the process."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopRequests:
        # Python runs signal handlers in the main thread only; elsewhere the defaults stay.
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in STOP_SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def _handle(self, signum: int, frame) -> None:
        if self.signum is not None:  # asked twice: stop now, as without this handler
            self.__exit__()
            signal.raise_signal(signum)
            return
        self.signum = signum
        console.print(f"{signal.Signals(signum).name}: stopping at the next training step or phase boundary, "
                      "with a checkpoint (a second signal stops now)",
                      markup=False, highlight=False, soft_wrap=True)

    def raise_if_requested(self) -> None:
        if self.signum is not None:
            raise Interrupted(self.signum)

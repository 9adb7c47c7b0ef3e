"""torchrun that exits as one process does: ``python -m hgclip.cli.launch [torchrun options] train.py ...``.

torchrun exits with 1 whenever a worker fails, whatever the worker's own exit code, and adds a
report of several lines. Under ``train.py`` every rank stops with the same code (2 for bad input
or a storage error, 130 for Ctrl-C) and only rank 0 prints its one ``error:`` line. This launcher
takes torchrun's options as they are (it is torch's own ``torch.distributed.run``) and exits with
the failed workers' code instead. It prints nothing more for 2 and 130, since rank 0 has said
why. Any other failure (a crash with a traceback, a signal) gets one line naming the rank and the code.
Installed as ``hgclip-torchrun``; the scripts' ``NPROC`` runs use it.

Ctrl-C: the terminal sends SIGINT to the launcher and every worker at once. torchrun's agent would turn
its own SIGINT into an exception (a traceback, exit 1) and SIGTERM the workers before they could say
anything; here the launcher leaves SIGINT to the workers (each ends with code 130, rank 0 with its one
line) and exits 130 like them. A SIGINT sent to the launcher alone is passed on to the workers after a
moment. Another signal that ends the agent (SIGTERM, SIGHUP) gives one line and ``128 + N``.
"""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from typing import Any, Optional, Sequence

from torch.distributed.elastic.multiprocessing.api import SignalException
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
from torch.distributed.run import parse_args, run

#: exit codes whose reason rank 0 has already printed (common.errors: bad input, Ctrl-C)
EXPLAINED_CODES = (2, 130)
#: seconds a worker has to notice a terminal's Ctrl-C itself before the launcher passes its SIGINT on
SIGINT_GRACE_S = 2.0
#: the signals torchrun's agent turns into an exception (``--signals-to-handle``): not SIGINT
AGENT_SIGNALS = "SIGTERM,SIGHUP,SIGQUIT"


def _children() -> list[int]:
    """This process's child processes (torchrun's workers), from /proc; [] where there is none."""
    me, found = os.getpid(), []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 1 and fields[1] == str(me):
            found.append(int(entry))
    return found


def _pass_on_sigint(workers: list[int]) -> None:
    for pid in workers:
        try:
            os.kill(pid, signal.SIGINT)
        except OSError:
            pass  # it ended on its own, as it should after a terminal's Ctrl-C


def _on_sigint(signum: int, frame: Any) -> None:
    """Leave a terminal's Ctrl-C to the workers (they got it too); pass on one sent to the launcher alone."""
    workers = _children()
    timer = threading.Timer(SIGINT_GRACE_S, _pass_on_sigint, args=(workers,))
    timer.daemon = True
    timer.start()


def worker_exit_code(error: ChildFailedError) -> tuple[int, int]:
    """``(rank, exit code)`` of the first failed worker; a worker killed by signal N gives ``128 + N``, as a shell does."""
    rank, failure = error.get_first_failure()
    code = int(failure.exitcode)
    return rank, (128 - code if code < 0 else code) or 1


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Launch as torchrun does; return the exit status a single process would have had."""
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)  # its report of a failed worker
    for name in ("PET_SIGNALS_TO_HANDLE", "TORCHELASTIC_SIGNALS_TO_HANDLE"):  # torchrun's option / older torch
        os.environ.setdefault(name, AGENT_SIGNALS)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _on_sigint)
    try:
        run(parse_args(list(sys.argv[1:] if argv is None else argv)))
    except SignalException as error:  # the agent was ended by a signal (it stopped the workers)
        code = 128 + int(error.sigval)
        print(f"error: the launcher received {signal.Signals(error.sigval).name}; the run was stopped",
              file=sys.stderr)
        return code
    except ChildFailedError as error:
        rank, code = worker_exit_code(error)
        if code not in EXPLAINED_CODES:
            name = f" ({signal.Signals(code - 128).name})" if code > 128 and code - 128 in signal.valid_signals() else ""
            print(f"error: process rank {rank} exited with code {code}{name}; see its output above", file=sys.stderr)
        return code
    return 0


def launch_command() -> None:
    """The ``hgclip-torchrun`` console command."""
    sys.exit(main())


if __name__ == "__main__":
    launch_command()

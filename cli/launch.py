"""torchrun that exits as one process does: ``python -m hgclip.cli.launch [torchrun options] train.py ...``.

torchrun exits with 1 whenever a worker fails, whatever the worker's own exit code, and adds a
report of several lines. Under ``train.py`` every rank stops with the same code (2 for bad input
or a storage error, 130 for Ctrl-C) and only rank 0 prints its one ``error:`` line. This launcher
takes torchrun's options as they are (it is torch's own ``torch.distributed.run``) and exits with
the failed workers' code instead. It prints nothing more for 2 and 130, since rank 0 has said
why. Any other failure (a crash with a traceback, a signal) gets one line naming the rank and the code.
Installed as ``hgclip-torchrun``; the scripts' ``NPROC`` runs use it.
"""
from __future__ import annotations

import logging
import signal
import sys
from typing import Optional, Sequence

from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
from torch.distributed.run import parse_args, run

#: exit codes whose reason rank 0 has already printed (common.errors: bad input, Ctrl-C)
EXPLAINED_CODES = (2, 130)


def worker_exit_code(error: ChildFailedError) -> tuple[int, int]:
    """``(rank, exit code)`` of the first failed worker; a worker killed by signal N gives ``128 + N``, as a shell does."""
    rank, failure = error.get_first_failure()
    code = int(failure.exitcode)
    return rank, (128 - code if code < 0 else code) or 1


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Launch as torchrun does; return the exit status a single process would have had."""
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)  # its report of a failed worker
    try:
        run(parse_args(list(sys.argv[1:] if argv is None else argv)))
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

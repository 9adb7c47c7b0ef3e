"""Copy everything printed to stdout into ``OUTPUT_DIR/log.txt``.

Dassl's parse scripts read results from ``log.txt``; trainers log with
``print``, so teeing stdout is what makes a run parseable.
"""
from __future__ import annotations

import os
import sys
import time
from typing import Optional, TextIO

from ...run_dir import LOG_FILE
from .tools import mkdir_if_missing


class StdoutTee:
    """A stdout replacement that writes to the console and to a log file."""

    def __init__(self, console: TextIO, fpath: str) -> None:
        self.console = console
        self.fpath = fpath
        mkdir_if_missing(os.path.dirname(fpath))
        self.file: Optional[TextIO] = open(fpath, "w", encoding="utf-8", buffering=1)

    def write(self, message: str) -> int:
        self.console.write(message)
        if self.file is not None and not self.file.closed:
            try:
                self.file.write(message)
            except OSError as error:
                raise self._failed(error) from None
        return len(message)

    def flush(self) -> None:
        self.console.flush()
        if self.file is not None and not self.file.closed:
            try:
                self.file.flush()
            except OSError as error:
                raise self._failed(error) from None

    def _failed(self, error: OSError) -> OSError:
        """Stop logging to a file that cannot be written (a full disk) and say which file it was.

        The error of a write names no file; the one-line message train.py prints must.
        """
        handle, self.file = self.file, None
        try:
            handle.close()
        except OSError:
            pass  # its buffer cannot be written either
        return OSError(error.errno, error.strerror, self.fpath)

    def isatty(self) -> bool:
        return self.console.isatty()

    def close(self) -> None:
        """Close the log file (never the console)."""
        if self.file is not None:
            self.file.close()

    def __getattr__(self, name: str):
        # encoding, errors, fileno, ... come from the console
        return getattr(self.console, name)


def _log_path(output: str) -> str:
    if output.endswith(".txt") or output.endswith(".log"):
        fpath = output
    else:
        fpath = os.path.join(output, LOG_FILE)
    if os.path.exists(fpath):
        # keep the old log; parse scripts read log.txt, so the newest run goes beside it
        fpath += time.strftime("-%Y-%m-%d-%H-%M-%S")
    return fpath


def setup_logger(output: Optional[str] = None) -> None:
    """Tee stdout to ``<output>/log.txt`` (or to ``output`` if it ends in .txt/.log).

    If the log file exists, write to ``log.txt-YYYY-mm-dd-HH-MM-SS`` instead,
    as Dassl does. Calling it again replaces the previous tee.
    """
    if output is None:
        return
    console = sys.stdout
    if isinstance(console, StdoutTee):
        console.close()
        console = console.console
    sys.stdout = StdoutTee(console, _log_path(output))

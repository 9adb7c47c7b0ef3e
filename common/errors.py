"""Bad input versus bugs: which exceptions ``train.py`` reports as one line (exit code 2).

A run that fails because of what the user gave it (a file, a config key, a checkpoint)
must say so in one line that names the file, line or key and what was expected, and
exit with code 2, the shell convention for a usage error. Everything else is a bug and
keeps its traceback. :class:`InputError` is what this project raises for bad input; the
standard exceptions listed in :data:`INPUT_ERRORS` are what the libraries it calls
(yacs, PyYAML, PIL, the file system) raise for it.
"""
from __future__ import annotations

import errno

import yaml

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130  # the shell's code for a process ended by Ctrl-C (128 + SIGINT)
EXIT_PEER_LOST = 1  # a torchrun process whose peer died: a failure, but not this process's input
MAX_ERROR_LINE = 300  # characters: a longer message is cut, so the line stays one a terminal shows


class InputError(ValueError):
    """Bad input: the message names the file, line or key and what was expected."""


#: Exceptions treated as bad input by train.py (one line, exit 2); anything else is a bug.
INPUT_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,  # InputError, HierarchyError, yacs type mismatches, bad values
    KeyError,  # yacs unknown keys, unknown registry names
    FileNotFoundError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
    UnicodeDecodeError,
    yaml.YAMLError,
)


#: The file system refusing a write: not a bug, and the user can act on it (the message names the file).
STORAGE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)


def is_input_error(error: BaseException) -> bool:
    return isinstance(error, INPUT_ERRORS)


def is_storage_error(error: BaseException) -> bool:
    """A full disk, an exceeded quota, a read-only file system: one line naming the file (files are written
    atomically, so what was there before stays as it was)."""
    return isinstance(error, OSError) and error.errno in STORAGE_ERRNOS


def one_line(error: BaseException, limit: int = MAX_ERROR_LINE) -> str:
    """The error's message on one line of at most ``limit`` characters (a KeyError's without the quotes repr adds)."""
    if isinstance(error, KeyError) and len(error.args) == 1 and isinstance(error.args[0], str):
        message = error.args[0]
    elif isinstance(error, OSError) and error.filename and error.strerror:
        message = f"{error.filename}: {error.strerror}"
    else:
        message = str(error) or type(error).__name__
    message = " ".join(message.split())
    return message if len(message) <= limit else message[:limit - 6].rstrip() + " [...]"

"""``python train.py ARGS`` without paying Python, torch and the project's import for every run.

Most of a tiny ``train.py`` run is its start (the interpreter, torch, torch_geometric, the project's
modules). The server here is a process that imports what ``train.py`` imports once, then runs each
request in a forked child: a process of its own (own pid, stdout/stderr on its file descriptors,
exit code, cwd, environment) that starts from the state the imports left, as a fresh ``train.py``
would, so no state leaks from one run into the next or into the tests. The server itself never
trains: autograd and OpenMP thread pools do not survive a fork, so it forks before either exists.

:class:`ForkServer` is the client (one server per test process, started on first use, gone when
the test process ends). ``HGCLIP_TEST_FRESH_PROCESSES=1`` makes :func:`run_helpers.run_train` start a
real ``python train.py`` per run instead (to compare, or to debug).
"""
from __future__ import annotations

import atexit
import json
import os
import os.path as osp
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Optional, Sequence

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TRAIN_PY = osp.join(REPO, "train.py")


# ------------------------------------------------------------------------------------------ the server
def _exit_code(error: SystemExit) -> int:
    """The status Python's own exit gives a ``SystemExit`` (None -> 0, an int, else the message and 1)."""
    if error.code is None:
        return 0
    if isinstance(error.code, int):
        return error.code
    print(error.code, file=sys.stderr)
    return 1


def _child(request: dict, protocol_fds: Sequence[int]) -> None:
    """Become ``python train.py ARGS`` in ``cwd`` with ``env``, output to the given files; never returns."""
    import io
    import runpy
    import traceback

    code = 1
    try:
        for fd in protocol_fds:
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
            target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(target, fd)
            os.close(target)
        encoding = request["encoding"]
        sys.stdin = sys.__stdin__ = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding=encoding)
        sys.stdout = sys.__stdout__ = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding=encoding,
                                                       write_through=True)
        sys.stderr = sys.__stderr__ = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding=encoding,
                                                       errors="backslashreplace", write_through=True)
        sys.argv = [TRAIN_PY, *request["args"]]
        if "numpy" in sys.modules:  # a new process seeds numpy from the OS (Python's random reseeds at fork itself)
            sys.modules["numpy"].random.seed()
        try:
            runpy.run_path(TRAIN_PY, run_name="__main__")
            code = 0
        except SystemExit as error:
            code = _exit_code(error)
        except BaseException:  # noqa: BLE001  (as the interpreter does: the traceback, then status 1)
            traceback.print_exc()
            code = 1
        threading._shutdown()  # type: ignore[attr-defined]  (the interpreter's exit: non-daemon threads, atexit)
        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
    finally:
        os._exit(code)


def serve() -> None:
    """Import what ``train.py`` imports, then answer one JSON request per stdin line with a forked run."""
    sys.path[0] = REPO  # what `python train.py` puts first on sys.path
    os.chdir(REPO)
    import hgclip.cli
    import hgclip.cli.train  # noqa: F401  (the imports a train.py run spends most of its start on)

    del sys.modules["hgclip.cli.train"], hgclip.cli.train  # train.py runs this module itself, as __main__

    requests = os.fdopen(os.dup(0), "r", encoding="utf-8")
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    protocol_fds = (requests.fileno(), replies.fileno())
    replies.write(json.dumps({"ready": os.getpid()}) + "\n")
    replies.flush()
    for line in requests:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request, protocol_fds)
        replies.write(json.dumps({"pid": pid}) + "\n")
        replies.flush()
        _, status = os.waitpid(pid, 0)
        replies.write(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}) + "\n")
        replies.flush()


# ------------------------------------------------------------------------------------------ the client
class ForkServer:
    """One server process; :meth:`run` is ``subprocess.run([python, train.py, *args], capture_output=True)``."""

    def __init__(self, env: dict) -> None:
        self._env = dict(env)
        self._lock = threading.Lock()
        self._process: Optional[subprocess.Popen] = None

    def _start(self) -> subprocess.Popen:
        if self._process is not None and self._process.poll() is None:
            return self._process
        self._process = subprocess.Popen([sys.executable, osp.abspath(__file__)], cwd=REPO, env=self._env,
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        atexit.register(self.close)
        self._reply(timeout=600)  # {"ready": pid}
        return self._process

    def _reply(self, timeout: Optional[float]) -> dict:
        assert self._process is not None and self._process.stdout is not None
        if timeout is not None:
            ready, _, _ = select.select([self._process.stdout], [], [], max(0.0, timeout))
            if not ready:
                raise subprocess.TimeoutExpired("fork server", timeout)
        line = self._process.stdout.readline()
        if not line:
            self.close()
            raise RuntimeError("the train.py fork server ended (see the test's stderr for its traceback)")
        return json.loads(line)

    def start(self, args: Sequence[str], stdout: str, stderr: str, cwd: str = REPO,
              env: Optional[dict] = None) -> int:
        """Start ``train.py args`` with its output written to the files ``stdout`` and ``stderr``; its pid.
        The caller must then call :meth:`wait` (one run at a time; the lock is held until then)."""
        self._lock.acquire()
        try:
            process = self._start()
            assert process.stdin is not None
            request = {"args": [str(a) for a in args], "cwd": cwd, "env": dict(env or self._env),
                       "stdout": stdout, "stderr": stderr, "encoding": _encoding()}
            process.stdin.write(json.dumps(request) + "\n")
            process.stdin.flush()
            return int(self._reply(timeout=600)["pid"])
        except BaseException:
            self._lock.release()
            raise

    def wait(self, pid: int, timeout: Optional[float] = None) -> int:
        """The exit status of the run started last (``-N`` when signal N ended it); killed after ``timeout``."""
        try:
            try:
                return int(self._reply(timeout)["returncode"])
            except subprocess.TimeoutExpired:
                os.kill(pid, signal.SIGKILL)
                self._reply(timeout=60)
                raise
        finally:
            self._lock.release()

    def run(self, args: Sequence[str], cwd: str = REPO, env: Optional[dict] = None,
            timeout: Optional[float] = None) -> subprocess.CompletedProcess:
        command = [sys.executable, TRAIN_PY, *args]
        with tempfile.TemporaryDirectory(prefix="train-run-") as folder:
            out, err = osp.join(folder, "stdout"), osp.join(folder, "stderr")
            pid = self.start(args, out, err, cwd=cwd, env=env)
            try:
                code = self.wait(pid, timeout)
            except subprocess.TimeoutExpired:
                raise subprocess.TimeoutExpired(command, timeout, _read(out), _read(err)) from None
            return subprocess.CompletedProcess(command, code, _read(out), _read(err))

    def close(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            assert process.stdin is not None
            process.stdin.close()  # the server's loop ends at end of input
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def _encoding() -> str:
    import locale

    return locale.getpreferredencoding(False)


def _read(path: str) -> str:
    try:
        with open(path, encoding=_encoding(), errors="replace", newline=None) as handle:
            return handle.read()
    except FileNotFoundError:
        return ""


def wait_for_line(path: str, pattern, pid: int, poll_s: float = 0.005) -> bool:
    """Follow the file ``path`` that process ``pid`` writes until a line matches ``pattern`` (True) or the
    process is gone (False)."""
    seen = 0
    pending = ""
    while True:
        alive = _alive(pid)
        try:
            with open(path, encoding=_encoding(), errors="replace") as handle:
                handle.seek(seen)
                chunk = handle.read()
                seen = handle.tell()
        except FileNotFoundError:
            chunk = ""
        pending += chunk
        *lines, pending = pending.split("\n")
        if any(pattern.search(line.rstrip()) for line in lines):
            return True
        if not alive:
            return bool(pending) and bool(pattern.search(pending.rstrip()))
        if not chunk:
            time.sleep(poll_s)


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie counts as gone: the server reaps it once it has said so)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


if __name__ == "__main__":
    serve()

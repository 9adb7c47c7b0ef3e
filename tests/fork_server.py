"""``python train.py ARGS`` (or ``python -c CODE ARGS``) without paying Python's, torch's and the project's
import for every run.

Most of a tiny ``train.py`` run is its start (the interpreter, torch, torch_geometric, the project's
modules). The server here is a process that imports what ``train.py`` imports once, then runs each
request in a forked child: a process of its own (own pid, stdin/stdout/stderr on its file
descriptors, exit status, cwd, environment) that starts from the state the imports left, as a fresh
``train.py`` would, so no state leaks from one run into the next or into the tests. The server itself
never trains: autograd's and OpenMP's thread pools do not survive a fork, so it forks before either
exists. Several children may run at once (two processes racing for a lock).

:class:`ForkServer` is the client (one server per test process, started on first use, gone when the
test process ends). ``HGCLIP_TEST_FRESH_PROCESSES=1`` makes :mod:`run_helpers` start real processes
instead (to compare, or to debug).
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
from typing import IO, Optional, Sequence

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TRAIN_PY = osp.join(REPO, "train.py")
#: Read when Python or the project is imported (the engine is chosen then), besides every PYTHON* variable:
#: the server's children inherit the server's import, so a run whose values differ needs a real process
IMPORT_TIME_VARIABLES = ("HGCLIP_ENGINE",)


def import_time_environment(env: dict) -> dict:
    return {key: value for key, value in env.items() if key.startswith("PYTHON") or key in IMPORT_TIME_VARIABLES}


# ------------------------------------------------------------------------------------------ the server
def _exit_code(error: SystemExit) -> int:
    """The status Python's own exit gives a ``SystemExit`` (None -> 0, an int, else the message and 1)."""
    if error.code is None:
        return 0
    if isinstance(error.code, int):
        return error.code
    print(error.code, file=sys.stderr)
    return 1


def _open_std(fd: int, path: str, flags: int) -> None:
    target = os.open(path, flags, 0o644)
    if target != fd:
        os.dup2(target, fd)
        os.close(target)


def _child(request: dict, protocol_fds: Sequence[int]) -> None:
    """Become ``python SCRIPT ARGS`` (or ``-c CODE``, ``-m MODULE``) in ``cwd`` with ``env``; never returns."""
    import io
    import runpy
    import traceback

    code = 1
    try:
        for fd in protocol_fds:
            os.close(fd)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        _open_std(0, request.get("stdin") or os.devnull, os.O_RDONLY)
        _open_std(1, request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        if request["stderr"]:  # else the server's (the test process's stderr)
            _open_std(2, request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        encoding = request["encoding"]
        sys.stdin = sys.__stdin__ = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding=encoding)
        sys.stdout = sys.__stdout__ = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding=encoding,
                                                       write_through=True)
        sys.stderr = sys.__stderr__ = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding=encoding,
                                                       errors="backslashreplace", write_through=True)
        if "numpy" in sys.modules:  # a new process seeds numpy from the OS (Python's random reseeds at fork itself)
            sys.modules["numpy"].random.seed()
        try:
            kind, target = request["kind"], request["target"]
            if kind == "code":  # python -c CODE ARGS
                sys.argv = ["-c", *request["args"]]
                sys.path[0] = ""
                exec(compile(target, "<string>", "exec"), {"__name__": "__main__", "__builtins__": __builtins__})
            elif kind == "module":  # python -m MODULE ARGS
                sys.argv = [target, *request["args"]]
                sys.path[0] = os.getcwd()
                runpy.run_module(target, run_name="__main__", alter_sys=True)
            else:  # python SCRIPT ARGS
                sys.argv = [target, *request["args"]]
                sys.path[0] = osp.dirname(osp.abspath(target))
                runpy.run_path(target, run_name="__main__")
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
    """Import what ``train.py`` imports, then answer each JSON request line with a forked run: ``{"pid"}`` at
    once, ``{"exit": pid, "returncode"}`` when it ends."""
    sys.path[0] = REPO  # what `python train.py` puts first on sys.path
    os.chdir(REPO)
    import hgclip.cli
    import hgclip.cli.train  # noqa: F401  (the imports a train.py run spends most of its start on)

    del sys.modules["hgclip.cli.train"], hgclip.cli.train  # train.py runs this module itself, as __main__

    requests = os.dup(0)
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    wake_read, wake_write = os.pipe()  # SIGCHLD wakes the select below
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    protocol_fds = (requests, replies.fileno(), wake_read, wake_write)

    def reply(message: dict) -> None:
        replies.write(json.dumps(message) + "\n")
        replies.flush()

    reply({"ready": os.getpid()})
    running: set[int] = set()
    pending = b""
    open_input = True
    while open_input or running:
        readable, _, _ = select.select([requests, wake_read] if open_input else [wake_read], [], [], 1.0)
        if wake_read in readable:
            os.read(wake_read, 4096)
        for pid in list(running):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                running.discard(pid)
                reply({"exit": pid, "returncode": os.waitstatus_to_exitcode(status)})
        if requests in readable:
            chunk = os.read(requests, 65536)
            if not chunk:
                open_input = False  # the test process is gone: finish the running children, then end
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                request = json.loads(line)
                pid = os.fork()
                if pid == 0:
                    signal.set_wakeup_fd(-1)
                    _child(request, protocol_fds)
                running.add(pid)
                reply({"pid": pid})


# ------------------------------------------------------------------------------------------ the client
class ForkServer:
    """One server process: :meth:`run` is ``subprocess.run([python, train.py, *args], capture_output=True)``,
    :meth:`popen_code` is ``subprocess.Popen([python, "-c", code, *args], stdin=PIPE, stdout=PIPE)``."""

    def __init__(self, env: dict) -> None:
        self._env = dict(env)
        self._lock = threading.RLock()
        self._process: Optional[subprocess.Popen] = None
        self._exits: dict[int, int] = {}
        self._buffer = b""
        self._log = ""

    def accepts(self, env: dict) -> bool:
        """Whether a run with ``env`` can be a fork of this server (its import saw the same import-time variables)."""
        return import_time_environment(env) == import_time_environment(self._env)

    def _server(self) -> subprocess.Popen:
        if self._process is not None and self._process.poll() is None:
            return self._process
        log, self._log = tempfile.mkstemp(prefix="fork-server-", suffix=".log")
        self._process = subprocess.Popen([sys.executable, osp.abspath(__file__)], cwd=REPO, env=self._env,
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, bufsize=0)
        os.close(log)
        self._exits.clear()
        self._buffer = b""
        atexit.register(self.close)
        self._reply(timeout=600)  # {"ready": pid}
        return self._process

    def _message(self, timeout: Optional[float]) -> Optional[dict]:
        """The server's next message, None if none came within ``timeout``; an exit is recorded for :meth:`wait`.
        (Read from the file descriptor: a buffered reader could hold a message that select does not see.)"""
        assert self._process is not None and self._process.stdout is not None
        fd = self._process.stdout.fileno()
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self._buffer:
            if deadline is not None:
                if not select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
                    return None
            chunk = os.read(fd, 65536)
            if not chunk:
                self.close()
                raise RuntimeError(f"the train.py fork server ended:\n{_read(self._log)[-3000:]}")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        message = json.loads(line)
        if "exit" in message:
            self._exits[int(message["exit"])] = int(message["returncode"])
        return message

    def _reply(self, timeout: float) -> dict:
        """The server's next message that is not an exit."""
        deadline = time.monotonic() + timeout
        while True:
            message = self._message(deadline - time.monotonic())
            if message is None:
                raise subprocess.TimeoutExpired("fork server", timeout)
            if "exit" not in message:
                return message

    def start(self, args: Sequence[str], stdout: str, stderr: str, stdin: str = "", cwd: str = REPO,
              env: Optional[dict] = None, kind: str = "script", target: str = TRAIN_PY) -> int:
        """Start ``python target args`` (``kind`` "script"; "code": ``-c``, "module": ``-m``) with its stdin, stdout
        and stderr on these files (or FIFOs); its pid, for :meth:`wait`."""
        with self._lock:
            server = self._server()
            assert server.stdin is not None
            request = {"args": [str(a) for a in args], "cwd": cwd, "env": dict(env or self._env), "kind": kind,
                       "target": target, "stdin": stdin, "stdout": stdout, "stderr": stderr,
                       "encoding": _encoding()}
            server.stdin.write((json.dumps(request) + "\n").encode("utf-8"))
            server.stdin.flush()
            return int(self._reply(timeout=600)["pid"])

    def poll(self, pid: int) -> Optional[int]:
        """Run ``pid``'s exit status if it has ended, else None."""
        with self._lock:
            while pid not in self._exits and self._message(timeout=0) is not None:
                pass
            return self._exits.get(pid)

    def wait(self, pid: int, timeout: Optional[float] = None) -> int:
        """The exit status of run ``pid`` (``-N`` when signal N ended it); killed (and TimeoutExpired) after ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while pid not in self._exits:
                if self._message(None if deadline is None else deadline - time.monotonic()) is None:
                    try:
                        os.kill(pid, signal.SIGKILL)  # time is up
                    except ProcessLookupError:
                        pass  # it has just ended; the server's message is on its way
                    while pid not in self._exits:
                        self._message(timeout=None)
                    self._exits.pop(pid)
                    raise subprocess.TimeoutExpired(f"pid {pid}", timeout or 0)
            return self._exits.pop(pid)

    def run(self, args: Sequence[str], cwd: str = REPO, env: Optional[dict] = None, timeout: Optional[float] = None,
            kind: str = "script", target: str = TRAIN_PY) -> subprocess.CompletedProcess:
        """``subprocess.run(command, capture_output=True, text=True)`` for the command :meth:`start` describes."""
        command = [sys.executable, *{"script": (), "code": ("-c",), "module": ("-m",)}[kind], target, *args]
        with tempfile.TemporaryDirectory(prefix="forked-run-") as folder:
            out, err = osp.join(folder, "stdout"), osp.join(folder, "stderr")
            pid = self.start(args, out, err, cwd=cwd, env=env, kind=kind, target=target)
            try:
                returncode = self.wait(pid, timeout)
            except subprocess.TimeoutExpired:
                raise subprocess.TimeoutExpired(command, timeout or 0, _read(out), _read(err)) from None
            return subprocess.CompletedProcess(command, returncode, _read(out), _read(err))

    def popen_code(self, code: str, args: Sequence[str] = (), cwd: str = REPO,
                   env: Optional[dict] = None) -> "ForkedProcess":
        """``python -c code args`` with text pipes to its stdin and from its stdout (stderr: the test's)."""
        folder = tempfile.mkdtemp(prefix="forked-popen-")
        stdin, stdout = osp.join(folder, "stdin"), osp.join(folder, "stdout")
        os.mkfifo(stdin)
        os.mkfifo(stdout)
        pid = self.start(args, stdout, osp.join(folder, "stderr"), stdin=stdin, cwd=cwd, env=env, kind="code",
                         target=code)
        # the child opens stdin, then stdout; opening a FIFO waits for the other end
        return ForkedProcess(self, pid, open(stdin, "w", encoding=_encoding()),
                             open(stdout, encoding=_encoding()), folder)

    def close(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            assert process.stdin is not None
            process.stdin.close()  # the server ends at the end of its input, once its children have
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()


class ForkedProcess:
    """The part of ``subprocess.Popen`` the tests use, for a child of the fork server."""

    def __init__(self, server: ForkServer, pid: int, stdin: IO[str], stdout: IO[str], folder: str) -> None:
        self._server, self.pid, self.stdin, self.stdout, self._folder = server, pid, stdin, stdout, folder
        self.returncode: Optional[int] = None

    def poll(self) -> Optional[int]:
        if self.returncode is None:
            self.returncode = self._server.poll(self.pid)
        return self.returncode

    def wait(self, timeout: Optional[float] = None) -> int:
        if self.returncode is None:
            self.returncode = self._server.wait(self.pid, timeout)
            self._cleanup()
        return self.returncode

    def communicate(self, timeout: Optional[float] = None) -> tuple[str, None]:
        if not self.stdin.closed:
            self.stdin.close()
        output = self.stdout.read()
        self.wait(timeout)
        return output, None

    def _cleanup(self) -> None:
        import shutil

        sys.stderr.write(_read(osp.join(self._folder, "stderr")))  # where Popen's child would have written it
        for stream in (self.stdin, self.stdout):
            try:
                stream.close()
            except OSError:
                pass
        shutil.rmtree(self._folder, ignore_errors=True)


def _encoding() -> str:
    import locale

    return locale.getpreferredencoding(False)


def _read(path: str) -> str:
    try:
        with open(path, encoding=_encoding(), errors="replace") as handle:
            return handle.read()
    except FileNotFoundError:
        return ""


def wait_for_line(path: str, pattern, is_done) -> bool:
    """Follow the file ``path`` a process writes until a line matches ``pattern`` (True) or ``is_done()`` says
    the process ended (False, unless its last line matched)."""
    seen, pending = 0, ""
    while True:
        done = is_done()
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
        if done:
            return bool(pending) and bool(pattern.search(pending.rstrip()))
        if not chunk:
            time.sleep(0.005)


if __name__ == "__main__":
    serve()

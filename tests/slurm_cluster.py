"""A one-node SLURM cluster on this machine, for the sweep tests: munged, slurmctld and slurmd as root.

Everything lives in one temporary folder: a munge key and socket, a generated ``slurm.conf`` (this machine's
hostname, CPUs and memory as ``slurmd -C`` reports them; ``proctrack/linuxproc`` and ``task/none``, which
need no cgroups in a container; no accounting database), state and spool folders and the daemons' logs.
Clients find it through ``SLURM_CONF``. :func:`start` returns the cluster, or a reason why it cannot start
(not root, SLURM or munge not installed, a daemon that did not come up), which the tests give to skip.
"""
from __future__ import annotations

import os
import os.path as osp
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from typing import Optional, Union

DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "sinfo")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Cluster:
    folder: str
    conf: str
    processes: list = field(default_factory=list)

    @property
    def env(self) -> dict:
        return dict(os.environ, SLURM_CONF=self.conf)

    def log(self, name: str) -> str:
        try:
            with open(osp.join(self.folder, f"{name}.log"), encoding="utf-8", errors="replace") as handle:
                return handle.read()[-2000:]
        except OSError:
            return ""

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self.processes.clear()

    def version(self) -> str:
        out = subprocess.run(["sinfo", "--version"], env=self.env, capture_output=True, text=True)
        return out.stdout.strip()


def _node_line() -> Optional[str]:
    out = subprocess.run(["slurmd", "-C"], capture_output=True, text=True)
    line = next((entry for entry in out.stdout.splitlines() if entry.startswith("NodeName=")), None)
    return line


def _write_conf(folder: str, munge_socket: str) -> tuple[str, str]:
    host = socket.gethostname()
    node = _node_line() or f"NodeName={host} CPUs={os.cpu_count() or 1}"
    node = node.split(" ", 1)
    node_line = f"NodeName={host} NodeAddr=127.0.0.1 {node[1] if len(node) > 1 else ''} State=UNKNOWN"
    for name in ("state", "spool"):
        os.makedirs(osp.join(folder, name), exist_ok=True)
    conf = osp.join(folder, "slurm.conf")
    lines = [
        "ClusterName=hgclip-test", f"SlurmctldHost={host}(127.0.0.1)", "SlurmUser=root", "SlurmdUser=root",
        f"SlurmctldPort={_free_port()}", f"SlurmdPort={_free_port()}", "AuthType=auth/munge", "CredType=cred/munge",
        f"AuthInfo=socket={munge_socket}", f"StateSaveLocation={folder}/state", f"SlurmdSpoolDir={folder}/spool",
        f"SlurmctldPidFile={folder}/slurmctld.pid", f"SlurmdPidFile={folder}/slurmd.pid",
        f"SlurmctldLogFile={folder}/slurmctld.log", f"SlurmdLogFile={folder}/slurmd.log",
        "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none", "MpiDefault=none", "ReturnToService=2",
        "SchedulerType=sched/backfill", "SelectType=select/cons_tres", "SelectTypeParameters=CR_Core",
        "AccountingStorageType=accounting_storage/none", "JobAcctGatherType=jobacct_gather/none",
        "JobCompType=jobcomp/none", "SlurmctldTimeout=30", "SlurmdTimeout=30", "InactiveLimit=0", "MinJobAge=300",
        "KillWait=5", "MaxArraySize=10001", node_line,
        f"PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP",
    ]
    with open(conf, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    return conf, host


def _wait_idle(cluster: Cluster, timeout: float = 60.0) -> Optional[str]:
    deadline = time.time() + timeout
    state = ""
    while time.time() < deadline:
        for process in cluster.processes:
            if process.poll() is not None:
                return f"a SLURM daemon exited with {process.returncode}"
        out = subprocess.run(["sinfo", "-h", "-o", "%T"], env=cluster.env, capture_output=True, text=True)
        state = out.stdout.strip()
        if out.returncode == 0 and state.startswith(("idle", "mixed", "allocated")):
            return None
        time.sleep(0.5)
    return f"the node did not become idle in {timeout:.0f} s (sinfo: {state or 'no answer'})"


def start(folder: str) -> Union[Cluster, str]:
    """Start munged, slurmctld and slurmd; return the cluster, or why it cannot run here."""
    if os.name != "posix" or os.geteuid() != 0:
        return "SLURM daemons need root here (slurmd runs jobs as their user)"
    missing = [name for name in DAEMONS if shutil.which(name) is None]
    if missing:
        return f"not installed: {', '.join(missing)} (Debian: apt-get install slurm-wlm munge)"
    os.makedirs(folder, exist_ok=True)
    key, munge_socket = osp.join(folder, "munge.key"), osp.join(folder, "munge.socket")
    with open(key, "wb") as handle:
        handle.write(os.urandom(1024))
    os.chmod(key, 0o400)
    cluster = Cluster(folder, "")
    munged = subprocess.run(["munged", "--force", f"--key-file={key}", f"--socket={munge_socket}",
                             f"--pid-file={folder}/munged.pid", f"--log-file={folder}/munged.log",
                             f"--seed-file={folder}/munged.seed"], capture_output=True, text=True)
    if munged.returncode != 0:
        return f"munged did not start: {(munged.stderr or munged.stdout).strip()[-300:]}"
    cluster.conf, host = _write_conf(folder, munge_socket)
    env = cluster.env
    for command in (["slurmctld", "-D", "-i", "-f", cluster.conf], ["slurmd", "-D", "-f", cluster.conf, "-N", host]):
        log = open(osp.join(folder, f"{command[0]}.stdout"), "wb")  # noqa: SIM115  (kept open for the daemon)
        cluster.processes.append(subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT))
        time.sleep(1.0)
    why = _wait_idle(cluster)
    if why is not None:
        detail = cluster.log("slurmctld")[-300:] + cluster.log("slurmd")[-300:]
        cluster.stop()
        stop_munged(folder)
        return f"{why}; logs: {' '.join(detail.split())}"
    return cluster


def stop_munged(folder: str) -> None:
    try:
        with open(osp.join(folder, "munged.pid"), encoding="utf-8") as handle:
            pid = int(handle.read().strip())
        os.kill(pid, 15)
    except (OSError, ValueError):
        pass


def stop(cluster: Cluster) -> None:
    cluster.stop()
    stop_munged(cluster.folder)

"""Several nodes for one run: two torchrun "nodes" on localhost (``--nnodes 2``, a c10d rendezvous on 127.0.0.1,
one process each), as a multi-node SLURM job of hgclip-sweep starts them (hgclip.cli.sweep_job.rendezvous_options),
give the results of two processes on one node, byte for byte."""
from __future__ import annotations

import socket
import subprocess
import sys

import pytest
from run_helpers import REPO, check_ok, environment, run_train, train_args

from hgclip.cli.sweep_job import rendezvous_options

pytestmark = pytest.mark.slow  # two 2-process runs


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_nodes_equal_two_processes_on_one_node(odd_dataset_root, tmp_path, monkeypatch):
    one_node = str(tmp_path / "one_node")
    check_ok(run_train(train_args(odd_dataset_root, one_node), nproc=2))

    two_nodes = str(tmp_path / "two_nodes")
    port = _port()
    monkeypatch.setattr("hgclip.cli.sweep_job.RENDEZVOUS_PORT", port)
    monkeypatch.setenv("SLURM_JOB_ID", "multinode-test")
    nodes = []
    for rank in range(2):
        options = rendezvous_options(2, rank, "127.0.0.1")
        assert f"--rdzv-endpoint=127.0.0.1:{port}" in options and f"--node-rank={rank}" in options
        command = [sys.executable, "-m", "hgclip.cli.launch", *options, "--nproc_per_node=1", f"{REPO}/train.py",
                   *train_args(odd_dataset_root, two_nodes)]
        nodes.append(subprocess.Popen(command, cwd=REPO, env=environment(), stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True))
    outputs = [node.communicate(timeout=900)[0] for node in nodes]
    for node, output in zip(nodes, outputs):
        assert node.returncode == 0, output[-3000:]
    assert "Distributed: 2 processes (gloo)" in outputs[0]

    with open(f"{one_node}/results.json", "rb") as a, open(f"{two_nodes}/results.json", "rb") as b:
        assert a.read() == b.read()

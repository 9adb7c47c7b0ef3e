"""Several processes, one run: the ``torch.distributed`` glue every trainer shares.

``torchrun --nproc_per_node N train.py ...`` starts N copies of ``train.py``; each reads
its rank from the environment (:func:`init_from_env`), trains on its share of every global
batch, and the gradients are averaged over the processes (:func:`all_reduce_gradients`).
Outside torchrun every helper here is a no-op, so the same code runs in one process.

Decisions (README, "Several GPUs or machines"):

* **Gradients are all-reduced by the trainer**, not by ``DistributedDataParallel``. The
  trainers call several entry points of their models (``forward``, ``forward_train``,
  ``forward_with_text``) that DDP's forward hook would not see, the text encoder runs once
  per step over all nodes, and the frozen CLIP has ``requires_grad=False``: only the
  learner (prompts, graph encoders) has gradients. It is small, so one flattened
  all-reduce per step costs little, and weighting each process's gradient by its share of
  the global batch makes the update the one-process update even when the global batch
  does not divide by the number of processes, up to float32 rounding: the shares' sums
  add in another order than one sum over the batch (about 2e-7 relative per step, which
  training amplifies; the measured bound is in docs/guide/running.md).
* **Rank 0 decides and writes**: logs, checkpoints, result files; work that fills a cache
  (prototypes, hand-crafted text features) runs on rank 0 and is broadcast
  (:func:`compute_on_main`); dataset caches are built by the first process of each machine
  before the others read them (:func:`local_main_first`).
"""
from __future__ import annotations

import contextlib
import datetime
import os
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional, Sequence, TypeVar

import torch
import torch.distributed as dist

T = TypeVar("T")

_state = threading.local()  # .main_only: inside a compute_on_main block on rank 0


@dataclass(frozen=True)
class ProcessInfo:
    """Where this process sits in the run (rank 0 of 1 outside torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    backend: str = ""


def launched_by_torchrun(environ: Optional[dict] = None) -> bool:
    environ = os.environ if environ is None else environ
    return "RANK" in environ and "WORLD_SIZE" in environ and "LOCAL_RANK" in environ


def init_from_env(use_cuda: bool, timeout_minutes: float = 30.0) -> ProcessInfo:
    """Join the process group torchrun set up (gloo on CPU, nccl on GPU); one process: nothing to join.

    On GPU each process uses ``cuda:<LOCAL_RANK>`` (set as the current device, so
    ``torch.device("cuda")`` means that one).
    """
    if is_initialized():
        return process_info()
    if not launched_by_torchrun():
        return ProcessInfo()
    world_size = int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ["LOCAL_RANK"])
    cuda = use_cuda and torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(local_rank)
    backend = "nccl" if cuda else "gloo"
    dist.init_process_group(backend=backend, init_method="env://",
                            timeout=datetime.timedelta(minutes=timeout_minutes))
    return ProcessInfo(dist.get_rank(), world_size, local_rank,
                       int(os.environ.get("LOCAL_WORLD_SIZE", world_size)), backend)


def shutdown() -> None:
    if is_initialized():
        dist.destroy_process_group()


def is_initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def process_info() -> ProcessInfo:
    if not is_initialized():
        return ProcessInfo()
    return ProcessInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)),
                       int(os.environ.get("LOCAL_WORLD_SIZE", dist.get_world_size())), dist.get_backend())


def rank() -> int:
    return dist.get_rank() if is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if is_initialized() else 1


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", 0)) if is_initialized() else 0


def is_main() -> bool:
    """True on rank 0 (and in a one-process run): the process that logs and writes files.

    Before the process group is joined (a config error found while reading the config), torchrun's
    ``RANK`` says which process is rank 0, so the other ranks stay silent then too.
    """
    if not is_initialized() and launched_by_torchrun():
        return os.environ["RANK"].strip() == "0"
    return rank() == 0


#: what gloo (and the TCP store) say when the process at the other end of a collective is gone
PEER_GONE_MESSAGES = ("Connection closed by peer", "Connection reset by peer", "Broken pipe",
                      "Connection refused")


def peer_loss(error: BaseException) -> str:
    """What the backend said if ``error`` is a collective failing because another process of the run died
    (killed, or stopped by its own error), else "": this process has nothing to add but that, in one line."""
    if not is_initialized() or world_size() < 2 or not isinstance(error, RuntimeError):
        return ""
    return next((text for text in PEER_GONE_MESSAGES if text in str(error)), "")


def barrier() -> None:
    if is_initialized() and world_size() > 1:
        dist.barrier()


def _collective_device() -> torch.device:
    """Where tensors for collectives live: the current GPU under nccl, else the CPU."""
    if is_initialized() and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """``obj`` from rank ``src`` on every rank (pickled; keep tensors on the CPU)."""
    if not is_initialized() or world_size() == 1:
        return obj
    holder = [obj if rank() == src else None]
    dist.broadcast_object_list(holder, src=src, device=_collective_device())
    return holder[0]


def all_gather_objects(obj: Any) -> list:
    """``[obj of rank 0, obj of rank 1, ...]`` on every rank."""
    if not is_initialized() or world_size() == 1:
        return [obj]
    gathered: list = [None] * world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def gather_objects(obj: Any, dst: int = 0) -> Optional[list]:
    """``[obj of every rank]`` on rank ``dst``, ``None`` elsewhere."""
    if not is_initialized() or world_size() == 1:
        return [obj]
    if dist.get_backend() == "nccl":  # gather_object needs the objects on the current GPU there; all_gather is simpler
        gathered = all_gather_objects(obj)
        return gathered if rank() == dst else None
    gathered: Optional[list] = [None] * world_size() if rank() == dst else None
    dist.gather_object(obj, gathered, dst=dst)
    return gathered


def _inside_main_only() -> bool:
    return bool(getattr(_state, "main_only", False))


def compute_on_main(compute: Callable[[], T]) -> T:
    """``compute()`` run on rank 0 only and broadcast to every rank (a one-process run just calls it).

    Used for work that fills a cache or costs time and gives the same result everywhere
    (node prototypes, hand-crafted text features). Nested calls inside ``compute`` run
    locally on rank 0, so a helper that shares its own result may be called from one.
    Tensors in the result are moved to the CPU for the broadcast and back to their
    device afterwards.
    """
    if not is_initialized() or world_size() == 1 or _inside_main_only():
        return compute()
    if not is_main():
        value, error, device = broadcast_object(None)
        if error is not None:
            raise RuntimeError(f"rank 0 failed: {error}")
        return _to_devices(value, device)
    _state.main_only = True
    try:
        value = compute()
    except Exception as exc:  # the other ranks must learn that rank 0 failed, or they wait forever
        broadcast_object((None, f"{type(exc).__name__}: {exc}", None))
        raise
    finally:
        _state.main_only = False
    broadcast_object((_to_cpu(value), None, _tensor_device(value)))
    return value


def _tensor_device(value: Any) -> Optional[str]:
    return str(value.device) if isinstance(value, torch.Tensor) else None


def _to_cpu(value: Any) -> Any:
    return value.cpu() if isinstance(value, torch.Tensor) else value


def _to_devices(value: Any, device: Any) -> Any:
    if isinstance(value, torch.Tensor) and device is not None:
        target = torch.device(device)
        if target.type == "cuda":
            target = torch.device("cuda", torch.cuda.current_device())
        return value.to(target)
    return value


@contextlib.contextmanager
def local_main_first() -> Iterator[None]:
    """Let the first process of each machine run the block first (it fills the caches), then the others.

    An exception on the first process is shared, so no process waits forever.
    """
    if not is_initialized() or world_size() == 1:
        yield
        return
    first = local_rank() == 0
    if not first:
        _agree_on_failure(None)
    failure: Optional[str] = None
    try:
        yield
    except Exception as exc:
        failure = f"{type(exc).__name__}: {exc}"
        if first:
            _agree_on_failure(failure)
        raise
    if first:
        _agree_on_failure(None)


def _agree_on_failure(failure: Optional[str]) -> None:
    """One all-gather: the local first processes report whether their block failed; the others wait for it."""
    reports = all_gather_objects(failure if local_rank() == 0 else None)
    failed = [report for report in reports if report]
    if failed and local_rank() != 0:
        raise RuntimeError(f"another process failed: {failed[0]}")


def agree(check: Callable[[], None]) -> None:
    """Run ``check`` on rank 0; if it raises, every rank raises the same (one-line) error.

    For decisions only rank 0 can make (the lock, the recorded config), so that the
    other processes stop with the same message instead of waiting.
    """
    if not is_initialized() or world_size() == 1:
        check()
        return
    error: Optional[BaseException] = None
    if is_main():
        try:
            check()
        except Exception as exc:
            error = exc
    shared = broadcast_object(None if error is None else (type(error).__name__, error.args))
    if error is not None:
        raise error
    if shared is not None:
        from ..common.errors import InputError

        name, args = shared
        message = args[0] if args else name
        raise InputError(str(message))


def same_everywhere(value: Any, what: str) -> None:
    """Raise on every rank unless ``value`` (e.g. a split's fingerprint) is the same on all ranks."""
    if not is_initialized() or world_size() == 1:
        return
    values = all_gather_objects(value)
    if any(v != values[0] for v in values):
        differing = [r for r, v in enumerate(values) if v != values[0]]
        raise RuntimeError(f"{what} differs between processes (ranks {differing} differ from rank 0)")


def broadcast_module_state(module: torch.nn.Module, src: int = 0) -> None:
    """Give every rank rank ``src``'s parameters and buffers (the learner starts identical everywhere)."""
    if not is_initialized() or world_size() == 1:
        return
    with torch.no_grad():
        for tensor in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(tensor.data, src=src)


def all_reduce_gradients(parameters: Sequence[torch.nn.Parameter], local_count: int) -> None:
    """Replace each gradient by the batch-weighted mean over the processes.

    Each process's gradient is the gradient of its mean loss over ``local_count`` samples;
    ``sum_r count_r * grad_r / sum_r count_r`` is then the gradient of the mean loss over
    the global batch, what one process computes on it up to the order of the additions
    (float32 rounding). One flattened all-reduce carries every gradient and the counts.
    """
    if not is_initialized() or world_size() == 1:
        return
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return
    device = grads[0].device
    flat = torch.cat([g.detach().reshape(-1).float() for g in grads] + [torch.ones(1, device=device)])
    flat.mul_(float(local_count))
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    total = flat[-1]
    flat = flat[:-1] / total
    offset = 0
    for grad in grads:
        size = grad.numel()
        grad.copy_(flat[offset:offset + size].view_as(grad).to(grad.dtype))
        offset += size


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """The element-wise sum of ``tensor`` over the processes (``tensor`` itself in one process); no gradient flows.

    For the statistics of a global batch that a loss needs (e.g. per-node sample counts).
    """
    if not is_initialized() or world_size() == 1:
        return tensor
    total = tensor.detach().to(_collective_device(), copy=True)
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total.to(tensor.device)


def gather_in_order(index: torch.Tensor, *columns: torch.Tensor) -> Optional[tuple[torch.Tensor, ...]]:
    """On rank 0: every rank's rows, sorted by ``index`` (the sample's position in its split); None elsewhere.

    Each rank passes the rows it evaluated (CPU tensors); rank 0 checks that no position
    came twice, so a sample can never count twice.
    """
    parts = gather_objects((index.cpu(),) + tuple(c.cpu() for c in columns))
    if parts is None:
        return None
    index = torch.cat([part[0] for part in parts])
    order = torch.argsort(index)
    index = index[order]
    if index.numel() > 1 and bool((index[1:] == index[:-1]).any()):
        raise RuntimeError("distributed evaluation: a sample was evaluated on two ranks")
    return (index,) + tuple(torch.cat([part[i + 1] for part in parts])[order] for i in range(len(columns)))

"""Scale-out of batch jobs (``ehps infer``, ``ehps annotate``) over processes, GPUs and nodes
with Lightning Fabric.

A job with ``--devices N`` (and/or ``--num-nodes M``) runs as ``N x M`` processes (*ranks*).
Every rank runs the ordinary single-process pipeline on its share of the inputs (the same code,
the same files); the ranks only talk to each other at two points, through :class:`Ranks`:

- at the start, to agree that the setup worked everywhere (:meth:`Ranks.agree`: rank 0 locks and
  claims the output folder, every rank builds its estimator; if any rank failed, every rank stops
  with that error and rank 0 reports it);
- at the end, to hand their reports to rank 0 (:meth:`Ranks.gather`), which merges them into the
  one summary a single-process run writes.

Sharding (:meth:`Ranks.take`): the work units, in the order the job reads them, are dealt out
round-robin: rank ``r`` of ``W`` takes units ``r, r + W, r + 2W, ...``. Round-robin rather than
contiguous blocks, because neighbouring files tend to be alike (a folder of one size of photo,
then the videos), so dealing them out keeps the ranks' loads close. More ranks than units is
fine: the extra ranks do nothing.

Why Fabric (and not a ``LightningModule`` with ``predict_step``): the inference pipeline streams
frames through its own stages and writes its files itself; what it needs from Lightning is only
what Fabric gives with no training machinery: launching the processes (the command is re-run
once per extra local rank, as ``ehps train`` does; ``torchrun`` and SLURM start them themselves
for multi-node jobs), the ranks and devices, and a process group. The process group always uses
the gloo back-end (CPU and GPU jobs alike): only a few small Python objects cross it, and gloo
works everywhere. Its timeout is :data:`TIMEOUT` (a rank that finishes early waits at the final
gather for the slowest one). With the default ``ddp`` strategy Lightning watches the extra
ranks and stops the whole job when one of them crashes; the files every rank finished are kept
(each file is written atomically), and ``--resume`` continues the job.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ehps.errors import EhpsError, InputError

__all__ = ["ScaleOut", "Ranks", "SINGLE", "launch", "parse_devices", "started_as_rank", "TIMEOUT",
           "STRATEGIES"]

T = TypeVar("T")

#: How long a rank waits for the others at a collective (the final gather waits for the slowest).
TIMEOUT = _dt.timedelta(days=7)
#: ``ddp``: the command is re-run once per extra rank (also under torchrun / SLURM);
#: ``ddp_spawn``: the ranks are forked-and-spawned Python processes (the Python API, notebooks).
STRATEGIES: tuple[str, ...] = ("ddp", "ddp_spawn")


def error_line(exc: BaseException) -> str:
    """One line for an error: ehps's own cause-and-fix line, else the exception's type and text."""
    return exc.one_line() if isinstance(exc, EhpsError) else f"{type(exc).__name__}: {exc}"


def parse_devices(text: str | int, flag: str = "--devices") -> int | str:
    """``--devices``: a positive process count per node, or ``"auto"``.

    Raises:
        InputError: anything else (one line naming the flag and the value).
    """
    value = str(text).strip().lower()
    if value == "auto":
        return "auto"
    if value.isdigit() and int(value) >= 1:
        return int(value)
    raise InputError(f"{flag} must be a number of processes per node (1 or more) or 'auto', "
                     f"got {text!r}")


@dataclass(frozen=True)
class ScaleOut:
    """How many processes a job runs as (the ``--devices`` / ``--num-nodes`` / ``--accelerator``
    / ``--strategy`` flags).

    Attributes:
        devices: processes per node (an int, or ``"auto"``: one per GPU, one on a CPU).
        num_nodes: nodes (each runs ``devices`` processes; the output folder must be on a file
            system they all see).
        accelerator: ``"auto"`` (GPUs when there are any), ``"cpu"``, ``"gpu"`` / ``"cuda"``.
        strategy: one of :data:`STRATEGIES`.
    """

    devices: int | str = 1
    num_nodes: int = 1
    accelerator: str = "auto"
    strategy: str = "ddp"

    def __post_init__(self) -> None:
        parse_devices(self.devices)
        if isinstance(self.num_nodes, bool) or not isinstance(self.num_nodes, int) or \
                self.num_nodes < 1:
            raise InputError(f"--num-nodes must be 1 or more, got {self.num_nodes!r}")
        if self.strategy not in STRATEGIES:
            raise InputError(f"--strategy must be one of {', '.join(STRATEGIES)}, got "
                             f"{self.strategy!r}")

    @property
    def single(self) -> bool:
        """One process: the job runs as it always did, without Lightning."""
        return self.devices == 1 and self.num_nodes == 1


class Ranks:
    """The processes of one job, seen from one of them: a single process (:data:`SINGLE`) or a
    Fabric rank (see the module docstring).

    Attributes:
        rank: this process's global rank (0 writes the merged summary and prints).
        world_size: the number of processes.
        device: the torch device this rank should use (``"cpu"``, ``"cuda:1"``, ...).
    """

    def __init__(self, rank: int = 0, world_size: int = 1, device: str = "cpu",
                 fabric: Any = None) -> None:
        self.rank, self.world_size, self.device = int(rank), int(world_size), str(device)
        self._fabric = fabric

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def take(self, count: int) -> range:
        """The indices of this rank's units among ``count`` units (round-robin)."""
        return range(self.rank, int(count), self.world_size)

    def gather(self, obj: T) -> list[T] | None:
        """Every rank's ``obj`` (picklable), in rank order, on rank 0; ``None`` elsewhere."""
        if not self.distributed:
            return [obj]
        import torch.distributed as dist

        out: list[Any] | None = [None] * self.world_size if self.rank == 0 else None
        dist.gather_object(obj, out, dst=0)
        return out

    def agree(self, step: Callable[[], T]) -> T:
        """Run ``step`` on this rank, then check that it worked on every rank.

        Returns:
            ``step()``'s value.

        Raises:
            Exception: the error ``step`` raised here; or, when ``step`` worked here but failed
                on another rank, an :class:`~ehps.errors.EhpsError` of the same class with that
                rank's message (every rank stops with it; rank 0 reports it).
        """
        failure: tuple[type[BaseException], str] | None = None
        try:
            value = step()
        except Exception as exc:
            if not self.distributed:
                raise
            failure = (type(exc), error_line(exc))
            error: Exception | None = exc
        else:
            error = None
        if not self.distributed:
            return value
        import torch.distributed as dist

        failures: list[Any] = [None] * self.world_size
        dist.all_gather_object(failures, failure)
        if error is not None:
            raise error
        first = next((f for f in failures if f is not None), None)
        if first is not None:
            cls, message = first
            raise (cls if issubclass(cls, EhpsError) else EhpsError)(message)
        return value

    def stop_here(self, exc: Exception, log: Any, what: str = "") -> str:
        """This rank stops on ``exc`` and the other ranks carry on: its one-line cause, logged
        on ``log`` (prefixed by ``what``) for the merged report. In a single process there is
        nobody to carry on, so ``exc`` is raised again."""
        if not self.distributed:
            raise exc
        line = error_line(exc)
        log.error("%srank %d of %d stopped: %s", what, self.rank, self.world_size, line)
        return line

    def barrier(self) -> None:
        if self.distributed:
            import torch.distributed as dist

            dist.barrier()


def started_as_rank() -> bool:
    """This process was started as one rank of a job (by Lightning for an extra local rank, by
    torchrun or by SLURM): it must not do what only the launching process does."""
    import os

    return any(k in os.environ for k in ("LOCAL_RANK", "RANK", "SLURM_PROCID"))


#: The single process of a job without ``--devices``: no Lightning, no process group.
SINGLE = Ranks()


def _run_rank(fabric: Any, function: Callable[..., T], args: Sequence[Any]) -> T:
    ranks = Ranks(fabric.global_rank, fabric.world_size, str(fabric.device), fabric)
    return function(ranks, *args)


def launch(options: ScaleOut, function: Callable[..., T], *args: Any) -> T | None:
    """Run ``function(ranks, *args)`` on every rank of ``options`` (see the module docstring).

    With one process (:attr:`ScaleOut.single`) it is called directly with :data:`SINGLE`, and
    Lightning is not imported. Otherwise Lightning Fabric starts (or, under torchrun / SLURM,
    joins) the processes and the gloo process group first.

    Args:
        options: the process layout.
        function: the job of one rank (module level, so that ``ddp_spawn`` can pickle it).
        args: its further arguments (picklable for ``ddp_spawn``).

    Returns:
        ``function``'s value on this rank (with ``ddp_spawn``: rank 0's, in the launching
        process).

    Raises:
        InputError: Lightning refuses the layout (e.g. more GPUs than the machine has); the
            message is Lightning's, on one line.
    """
    if options.single:
        return function(SINGLE, *args)
    import logging

    from lightning.fabric import Fabric
    from lightning.fabric.strategies import DDPStrategy
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    if logging.getLogger().getEffectiveLevel() >= logging.WARNING:  # not -v: no banners
        for name in ("lightning.fabric", "lightning.pytorch"):
            logging.getLogger(name).setLevel(logging.WARNING)

    strategy = DDPStrategy(process_group_backend="gloo", timeout=TIMEOUT,
                           start_method="spawn" if options.strategy == "ddp_spawn" else "popen")
    try:
        fabric = Fabric(accelerator=options.accelerator, devices=options.devices,
                        num_nodes=options.num_nodes, strategy=strategy)
    except (ValueError, RuntimeError, TypeError, MisconfigurationException) as exc:
        text = " ".join(str(exc).split())
        raise InputError(f"cannot run on --devices {options.devices} --num-nodes "
                         f"{options.num_nodes} --accelerator {options.accelerator}: {text}"
                         ) from None
    return fabric.launch(_run_rank, function, args)

"""Data parallel: one run trained by several processes started by `accelerate launch`.

`accelerate launch --num_processes N -m rldojo train SPEC` starts N copies of the command with the
variables of a process group (RANK, WORLD_SIZE, MASTER_ADDR, ...). `start_data_parallel` joins it
through accelerate's `PartialState` (NCCL between GPUs, gloo on CPUs), puts each process on its
own GPU, and keeps the log of the other processes quiet. Every process runs the same sessions one
after another; the language-model stages share each batch out (`rldojo.algos.stage`). Only the
main process writes: the run folder, the spec, metrics, checkpoints, plots and the report; the
others compute the same values and wait for it where they read what it wrote.

A run of one process never starts a process group and behaves as it always did.
"""

from __future__ import annotations

import atexit
import datetime
import os
from typing import Any

import torch
from loguru import logger

from rldojo.errors import UserError
from rldojo.nets.optim import all_reduce_sums, process_group

_state: Any = None


def launched_data_parallel() -> bool:
    """This process is one of several started by `accelerate launch` (or torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def start_data_parallel() -> tuple[int, int]:
    """Join the process group the launcher described (once); -> (rank, number of processes)."""
    global _state
    if _state is None and launched_data_parallel():
        try:
            from accelerate import PartialState
            from accelerate.utils import parse_flag_from_env
        except ImportError:
            raise UserError(
                "this process was started as one of several (WORLD_SIZE > 1): data-parallel training joins "
                "them through accelerate, which is not installed. Install it with pip install 'rldojo[llm]', "
                "or run a single process."
            ) from None

        # gloo between CPU processes (`accelerate launch --cpu`, or a machine without a GPU), else NCCL
        cpu = parse_flag_from_env("ACCELERATE_USE_CPU") or not torch.cuda.is_available()
        _state = PartialState(cpu=cpu)
        # a process that exits with its process group open can abort in gloo's threads at exit
        atexit.register(_leave_process_group)
    if _state is not None and not _state.is_main_process:
        logger.disable("rldojo")  # the main process says it once (again here: the CLI's console setup enables it)
    return process_group()


def _leave_process_group() -> None:
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return
    if torch.distributed.get_backend() == "gloo":
        # Leave together: a process that closes its connections while a peer is still working makes
        # the peer's gloo threads abort (SIGABRT). Bounded, so a peer that crashed cannot hang the exit.
        try:
            torch.distributed.monitored_barrier(timeout=datetime.timedelta(seconds=120))
        except RuntimeError as exc:
            logger.debug("leaving the process group without every peer: {}", exc)
    torch.distributed.destroy_process_group()


def is_main() -> bool:
    """This process writes the run's files (the only process of a plain run)."""
    return process_group()[0] == 0


def data_parallel_device(device: torch.device) -> torch.device:
    """Each process's device: in a data-parallel run on GPUs its own GPU (accelerate's, by local
    rank; a `cuda:N` of the spec names one process's GPU, not every process's), else `device`."""
    if _state is not None and device.type == "cuda" and _state.device.type == "cuda":
        return _state.device
    return device


def broadcast(value: Any) -> Any:
    """The main process's `value` (picklable), in every process."""
    if process_group()[1] == 1:
        return value
    holder = [value]
    torch.distributed.broadcast_object_list(holder, src=0)
    return holder[0]


def barrier() -> None:
    """Wait until every process reaches this point (e.g. the main one has written a file)."""
    if process_group()[1] > 1:
        torch.distributed.barrier()


def any_process(flag: bool) -> bool:
    """True when `flag` is true in any process: a Ctrl-C that reached one process stops all of them
    after the same step (each must leave the loop together to checkpoint together)."""
    if process_group()[1] == 1:
        return flag
    return all_reduce_sums({"flag": float(flag)})["flag"] > 0


def check_data_parallel(spec: Any) -> None:
    """A data-parallel run trains language-model stages; a tensor agent is refused."""
    from rldojo.algos.registry import plays_episodes

    if process_group()[1] > 1 and not plays_episodes(spec.agent.algo):
        raise UserError(
            f"{spec.agent.algo} is a tensor agent: data-parallel training (accelerate launch with "
            f"--num_processes {process_group()[1]}) is for language-model stages (sft, grpo, lm_ppo, apo, "
            "pipeline). Run it with plain `rldojo train`, or with meta.sessions to use several cores."
        )

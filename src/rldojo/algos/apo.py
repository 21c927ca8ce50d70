"""A*PO: policy optimization via optimal advantage regression (Brantley et al., 2025), for text agents.

One stage, two phases. Phase 1 (offline, before any update) fixes `num_tasks` training tasks x (a
task id with its episode seed, so every episode of x starts from the same first observation),
plays `k` episodes of each with the reference policy pi_ref (the model as the stage starts,
sampling at the training temperature) and estimates the optimal value of the KL-regularised
objective from their returns r_1..r_k:

    V*(x) = beta1 * ln( (1/k) * sum_i exp(r_i / beta1) )     (computed with logsumexp)

a soft maximum: beta1 -> 0 gives max_i r_i, a large beta1 the mean. Phase 2 (online) plays, each
iteration, ONE episode y on each of `tasks_per_iteration` of those tasks with the current policy
and takes one optimizer step on (loss: apo)

    loss = mean over episodes of ( beta2 * ln pi(y|x)/pi_ref(y|x) - (r(x, y) - V*(x)) )^2

where ln pi(y|x)/pi_ref(y|x) is summed over the tokens the model produced in the whole episode
(every turn's reply; prompt and env text are masked out), or in `choose` mode over the episode's
choices among the listed actions (`rldojo.llm.choice`, every candidate scored with gradients). No critic, no group, no clipping. With
beta1 = beta2 = beta the minimiser is the optimum of E[r] - beta * KL(pi || pi_ref), for which
beta * ln pi*/pi_ref = r - V*(x) holds exactly; the paper sets the two apart in practice. At the
reference (log-ratio 0) the gradient is -2 * beta2 * (r - V*) * grad ln pi(y|x): a policy gradient
with the fixed baseline V*, which the squared loss stops pushing once the log-ratio has moved
(r - V*) / beta2.

`loss: pg_vstar` is the normalised-advantage policy gradient that some implementations call A*PO:

    A = r - max_i r_i                          (V* as the best of the k reference returns)
    Â = clip( (A - mean_batch A) / std_batch A, -5, 5 )       (population std)
    loss = -beta2 * mean over episodes of Â * ln pi(y|x)      (ln pi summed over the episode's tokens)

It keeps no reference model and has no pull back toward pi_ref: it climbs the reward with a fixed
per-task baseline, and the batch normalisation throws away the scale of r - V*, which the
regression keeps.

V* is cached in the session folder (`vstar.json`: per task its id, seed, V* and the k returns) and
reused on resume, so an interrupted phase 1 continues where it stopped; `vstar_cache: PATH` reuses
a finished one from another run (checked against this stage's tasks).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from loguru import logger
from pydantic import Field, field_validator, model_validator

from rldojo.algos.lm_agent import LMAgent, LMAgentConfig
from rldojo.algos.stage import (
    EPISODE_METRICS,
    ITERATION_METRICS,
    StageParams,
    StageTrainer,
    StepReport,
    my_share,
    rl_iteration,
)
from rldojo.config import OptimConfig, refuse_set_keys, section_field
from rldojo.errors import UserError
from rldojo.llm.batch import TrainForwards
from rldojo.llm.choice import policy_logprobs, policy_logprobs_without_grad
from rldojo.llm.tasks import EpisodeStart
from rldojo.nets.optim import (
    all_gather_objects,
    all_reduce_sums,
    build_optimizer,
    load_optimizer_state,
    lr_factor,
    process_group,
    set_lr_factor,
    step_accumulated,
)

APO_METRICS: tuple[str, ...] = (
    *EPISODE_METRICS,
    "apo_phase",
    "loss",
    "log_ratio_mean",
    "adv_mean",
    "adv_std",
    "adv_clipped_share",
    "vstar_mean",
    "vstar_std",
    "vstar_max",
    "unsolved_share",
    "grad_norm",
    *ITERATION_METRICS,
)
#: pg_vstar clips normalised advantages to [-PG_VSTAR_CLIP, PG_VSTAR_CLIP].
PG_VSTAR_CLIP = 5.0
CACHE_NAME = "vstar.json"
CACHE_VERSION = 1


class APOParams(StageParams):
    """Hyperparameters of A*PO (a stage of its own or part of a pipeline)."""

    metric_names: ClassVar[tuple[str, ...]] = APO_METRICS
    summary: ClassVar[str] = "A*PO: optimal advantage regression with V* estimated offline (one episode per task)"

    algo: Literal["apo"] = "apo"
    """Algorithm name."""
    num_tasks: int = Field(128, ge=1)
    """Training tasks of the stage (each with its episode seed): V* is estimated once for each in
    phase 1, and phase 2 cycles over them. (`tasks:` is the agent's train / held-out split.)"""
    k: int = Field(8, ge=1)
    """Phase 1: episodes per task from the reference policy (the model as the stage starts)."""
    beta1: float = Field(0.5, gt=0)
    """Temperature of V* = beta1 * ln mean exp(r / beta1): small -> the best of the k returns,
    large -> their mean (loss: apo)."""
    beta2: float = Field(1.0e-3, gt=0)
    """KL weight of the regression (beta2 * log-ratio is fitted to r - V*); with pg_vstar, the
    weight of the policy-gradient loss."""
    loss: Literal["apo", "pg_vstar"] = "apo"
    """`apo`: the paper's least-squares regression on the optimal advantage; `pg_vstar`: a policy
    gradient on normalised, clipped r - max_k(r) (see the module docstring)."""
    tasks_per_iteration: int = Field(16, ge=1)
    """Phase 2: tasks per iteration, one episode each (the batch of one optimizer step). Phase 1
    plays this many tasks (k episodes each) per logged step."""
    drop_unsolved: bool = False
    """Leave out of phase 2 the tasks on which no reference episode earned any reward (V* = 0)."""
    vstar_cache: str | None = None
    """A `vstar.json` from an earlier run (same env, seed, task split and k) to use instead of
    phase 1; None: estimate V* here (cached in the session folder)."""
    micro_batch_size: int = Field(16, ge=1)
    """Episodes per forward pass (gradients accumulate over the iteration's batch)."""
    micro_batch_tokens: int | None = Field(None, ge=1)
    """Token budget of a forward pass (None: micro_batch_size episodes each): micro-batches are packed
    so that episodes x the longest of them (padded) stays within it, at most micro_batch_size
    episodes each; an episode longer than the budget is a micro-batch of its own. Gradients are the
    same either way; long multi-turn episodes then fit in memory."""
    optim: OptimConfig = section_field(OptimConfig, name="adamw", lr=1.0e-4, eps=1.0e-8)
    """Optimizer and schedule (the schedule spans train.iterations, one step per iteration)."""
    max_grad_norm: float | None = Field(1.0, gt=0)
    """Clip the global gradient norm of each optimizer step to this (None: no clipping)."""

    @field_validator("vstar_cache")
    @classmethod
    def _cache_exists(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).expanduser().is_file():
            raise ValueError(f"vstar_cache '{value}' is not a file; give the vstar.json of an earlier A*PO run")
        return value

    @model_validator(mode="after")
    def _keys_in_use(self) -> APOParams:
        if self.loss == "pg_vstar":
            refuse_set_keys(self, "agent", {"beta1": "pg_vstar's V* is the best of the k returns, not a soft maximum"})
        return self

    def scaled_for_dev(self):
        """A few tasks and samples: `rldojo dev` exercises both phases, it does not train."""
        return self.model_copy(
            update={
                "num_tasks": min(self.num_tasks, 4),
                "k": min(self.k, 2),
                "tasks_per_iteration": min(self.tasks_per_iteration, 2),
            }
        )

    def build_trainer(self, agent: LMAgent) -> StageTrainer:
        return APOTrainer(self, agent)


class APOConfig(APOParams, LMAgentConfig):
    """`agent:` section for `algo: apo`."""


# ---- the objective ------------------------------------------------------------------------------
def optimal_value(rewards: torch.Tensor, beta1: float) -> torch.Tensor:
    """V* = beta1 * ln mean_i exp(r_i / beta1) over the last dim of (..., k) returns, stably."""
    k = rewards.shape[-1]
    return beta1 * (torch.logsumexp(rewards.double() / beta1, dim=-1) - math.log(k))


def apo_loss(
    logp: torch.Tensor,
    ref_logp: torch.Tensor,
    mask: torch.Tensor,
    rewards: torch.Tensor,
    vstar: torch.Tensor,
    beta2: float,
    episodes: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A*PO's loss of (rows, span) token log-probabilities; rewards and V* are (rows,). `episodes` is
    the whole batch's size when it is split into micro-batches. Returns the loss and the log-ratios."""
    log_ratio = ((logp - ref_logp) * mask).sum(dim=1)  # ln pi(y|x)/pi_ref(y|x) of each episode
    residual = beta2 * log_ratio - (rewards - vstar)
    loss = residual.square().sum() / (episodes or logp.shape[0])
    return loss, log_ratio.detach()


def pg_vstar_advantages(advantages: torch.Tensor, eps: float = 1e-6) -> tuple[torch.Tensor, torch.Tensor]:
    """(normalised advantages clipped to +-PG_VSTAR_CLIP, which of them were clipped)."""
    normalised = (advantages - advantages.mean()) / (advantages.std(correction=0) + eps)
    return normalised.clamp(-PG_VSTAR_CLIP, PG_VSTAR_CLIP), normalised.abs() > PG_VSTAR_CLIP


def pg_vstar_loss(
    logp: torch.Tensor, mask: torch.Tensor, advantages: torch.Tensor, beta: float, episodes: int | None = None
) -> torch.Tensor:
    """-beta * mean over episodes of Â * ln pi(y|x), ln pi summed over each episode's tokens."""
    return -beta * (advantages * (logp * mask).sum(dim=1)).sum() / (episodes or logp.shape[0])


# ---- the V* cache -------------------------------------------------------------------------------
TaskKey = tuple[int, int]  # (task_id, seed)


def read_vstar_cache(path: Path) -> dict[str, Any]:
    """The cache file's content, checked for shape (UserError naming the file otherwise)."""
    try:
        data = json.loads(Path(path).read_text())
        rows = data["tasks"]
        rewards = {(int(row["task_id"]), int(row["seed"])): [float(r) for r in row["rewards"]] for row in rows}
        return {"env_id": data.get("env_id"), "k": int(data["k"]), "stage": data.get("stage"), "rewards": rewards}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(
            f"'{path}' is not an A*PO V* cache ({type(exc).__name__}: {exc}); it should be the vstar.json "
            "an apo stage writes in its session folder"
        ) from None


def write_vstar_cache(path: Path, record: dict[str, Any]) -> None:
    """Write atomically (temp file + rename), so an interruption never leaves half a cache."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = [f" {json.dumps(key)}: {json.dumps(value)}" for key, value in record.items() if key != "tasks"]
    rows = [f"  {json.dumps(row)}" for row in record["tasks"]]  # one task per line: readable, diffable
    tasks = "[\n" + ",\n".join(rows) + "\n ]" if rows else "[]"
    text = "{\n" + ",\n".join([*header, f' "tasks": {tasks}']) + "\n}\n"
    fd, tmp = tempfile.mkstemp(prefix=".vstar-", suffix=".json", dir=path.parent)
    with os.fdopen(fd, "w") as file:
        file.write(text)
    os.replace(tmp, path)


# ---- the trainer --------------------------------------------------------------------------------
class APOTrainer(StageTrainer):
    def __init__(self, params: APOParams, agent: LMAgent) -> None:
        self.params, self.agent = params, agent
        self.runtime = agent.runtime
        self.params_list = agent.lm.trainable_parameters()
        self.optimizer = build_optimizer(self.params_list, params.optim)
        self.iteration = 0
        self.pad_id = agent.actor.backend.pad_id
        self.temperature = agent.cfg.generation.temperature or 1.0
        self.choice_mode = agent.cfg.generation.action_mode == "choose"  # ln pi is the turns' choices
        self._forward_of = TrainForwards()  # the lean forward of the tiny model, else the model
        self.tasks: list[EpisodeStart] | None = None
        """The stage's task set, drawn at its first step (restored on resume)."""
        self.rewards: dict[TaskKey, list[float]] = {}
        """Phase 1: the k reference returns of each task estimated so far."""
        self._order: tuple[int, np.ndarray] | None = None
        self.reference = None
        if params.loss == "apo" and not agent.lm.has_adapters:
            self.reference = agent.lm.frozen_copy()  # the model as the stage starts
        session_dir = getattr(self.runtime, "session_dir", None)
        self.cache_path = Path(session_dir) / CACHE_NAME if session_dir is not None else None

    def progress(self) -> tuple[int, int | None]:
        return self.iteration, self.runtime.iterations

    def current_lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    # ---- V* -----------------------------------------------------------------------------------
    def vstar(self, key: TaskKey) -> float:
        returns = torch.tensor(self.rewards[key], dtype=torch.float64)
        if self.params.loss == "pg_vstar":
            return float(returns.max())
        return float(optimal_value(returns, self.params.beta1))

    def unsolved(self, key: TaskKey) -> bool:
        """No reference episode earned any reward (V* = 0 for rewards >= 0)."""
        return max(self.rewards[key]) <= 0

    def vstar_stats(self, keys: list[TaskKey]) -> dict[str, float]:
        values = np.array([self.vstar(key) for key in keys]) if keys else np.array([math.nan])
        return {
            "vstar_mean": float(values.mean()),
            "vstar_std": float(values.std()),
            "vstar_max": float(values.max()),
            "unsolved_share": float(np.mean([self.unsolved(key) for key in keys])) if keys else math.nan,
        }

    def _keys(self) -> list[TaskKey]:
        return [(t.task_id, t.seed) for t in self.tasks or []]

    def _load_caches(self) -> None:
        """Returns known before phase 1: the given `vstar_cache` (all tasks, or an error), else the
        session's own cache of this stage (what an interrupted phase 1 had estimated)."""
        keys = self._keys()
        if self.params.vstar_cache is not None:
            path = Path(self.params.vstar_cache).expanduser()
            cache = read_vstar_cache(path)
            missing = [key for key in keys if key not in cache["rewards"]]
            if cache["env_id"] != self.runtime.env_id or cache["k"] != self.params.k or missing:
                task_id, seed = missing[0] if missing else keys[0]
                raise UserError(
                    f"vstar_cache '{path}' does not match this stage: it holds {len(cache['rewards'])} tasks of "
                    f"{cache['env_id']} with k={cache['k']}; the stage has {len(keys)} tasks of "
                    f"{self.runtime.env_id} with k={self.params.k}"
                    + (
                        f", {len(missing)} of them not in the cache (e.g. task {task_id} seed {seed})"
                        if missing
                        else ""
                    )
                    + ". A cache is reusable by a run with the same env, seed, tasks.held_out, num_tasks (or "
                    "fewer) and k; remove vstar_cache to estimate V* in this run."
                )
            self.rewards.update({key: cache["rewards"][key] for key in keys})
        elif self.cache_path is not None and self.cache_path.is_file():
            try:
                cache = read_vstar_cache(self.cache_path)
            except UserError as exc:
                logger.warning("{}: estimating V* again", exc)
                return
            same = (cache["env_id"], cache["stage"], cache["k"]) == (
                self.runtime.env_id,
                self.agent.stage,
                self.params.k,
            )
            if same:  # else another stage's cache (a pipeline with two apo stages): estimate afresh
                known = {key: cache["rewards"][key] for key in keys if key in cache["rewards"]}
                self.rewards.update(known)
                logger.info("A*PO: V* of {} of {} tasks reused from {}", len(known), len(keys), self.cache_path)

    def _write_cache(self) -> None:
        if self.cache_path is None or process_group()[0] != 0:  # one writer in a data-parallel run
            return
        rows = [
            {
                "task_id": task_id,
                "seed": seed,
                "vstar": self.vstar((task_id, seed)),
                "rewards": self.rewards[(task_id, seed)],
            }
            for task_id, seed in self._keys()
            if (task_id, seed) in self.rewards
        ]
        record = {
            "version": CACHE_VERSION,
            "env_id": self.runtime.env_id,
            "stage": self.agent.stage,
            "k": self.params.k,
            "vstar": "max" if self.params.loss == "pg_vstar" else f"beta1={self.params.beta1}",
            "tasks": rows,
        }
        write_vstar_cache(self.cache_path, record)

    # ---- the two phases -------------------------------------------------------------------------
    def steps(self) -> Iterator[StepReport]:

        params = self.params
        if self.tasks is None:
            self.tasks = [self.runtime.train_tasks.next() for _ in range(params.num_tasks)]
        self._load_caches()
        self._write_cache()
        yield from self._phase_one()
        active = [t for t in self.tasks if not (params.drop_unsolved and self.unsolved((t.task_id, t.seed)))]
        self._log_summary(len(active))
        if not active:
            logger.warning("A*PO: no reference episode earned a reward on any task; phase 2 has nothing to train on")
            return
        while self.runtime.iterations is None or self.iteration < self.runtime.iterations:
            starts = self._batch(active, self.iteration)
            report = rl_iteration(
                self.agent, starts, lambda episodes, starts=starts: self.update(episodes, starts), self.current_lr
            )
            report.metrics["apo_phase"] = 2.0
            self.iteration += 1
            yield report

    def _phase_one(self) -> Iterator[StepReport]:
        """k reference episodes from the same first observation of each task not yet estimated."""
        from rldojo.llm.rollout import RolloutStats, episode_metrics

        k, todo = self.params.k, [t for t in self.tasks if (t.task_id, t.seed) not in self.rewards]
        for i in range(0, len(todo), self.params.tasks_per_iteration):
            chunk = todo[i : i + self.params.tasks_per_iteration]
            stats = RolloutStats()
            starts = [
                EpisodeStart(seed=t.seed, task_id=t.task_id, group=g) for g, t in enumerate(chunk) for _ in range(k)
            ]
            episodes = self.agent.play(starts, stats=stats)
            for g, task in enumerate(chunk):
                self.rewards[(task.task_id, task.seed)] = [ep.reward for ep in episodes if ep.group == g]
            self._write_cache()
            metrics = {
                **episode_metrics(episodes),
                **self.vstar_stats([(t.task_id, t.seed) for t in chunk]),
                "apo_phase": 1.0,
                "rollout_s": stats.seconds,
                "tokens_per_s": stats.generated_tokens / stats.seconds if stats.seconds else math.nan,
            }
            yield StepReport(
                frames=sum(ep.turns for ep in episodes),
                metrics=metrics,
                lr=self.current_lr(),
                episodes=episodes,
                iteration=False,
            )

    def _log_summary(self, active: int) -> None:
        stats = self.vstar_stats(self._keys())
        logger.info(
            "A*PO phase 1: V* of {} tasks from {} reference episodes each: mean {:.3f}, std {:.3f}, max {:.3f}; "
            "{:.0%} unsolved (no episode earned a reward); phase 2 trains on {} tasks",
            len(self.tasks),
            self.params.k,
            stats["vstar_mean"],
            stats["vstar_std"],
            stats["vstar_max"],
            stats["unsolved_share"],
            active,
        )

    def _batch(self, active: list[EpisodeStart], iteration: int) -> list[EpisodeStart]:
        """The iteration's tasks: passes over the active tasks, each pass in its own seeded order (a
        function of the iteration alone, so a resumed stage plays what it would have)."""
        n, count = self.params.tasks_per_iteration, len(active)
        starts = []
        for position in range(iteration * n, (iteration + 1) * n):
            epoch, index = divmod(position, count)
            if self._order is None or self._order[0] != epoch:
                self._order = (epoch, np.random.default_rng([self.agent.seed, epoch]).permutation(count))
            task = active[int(self._order[1][index])]
            starts.append(EpisodeStart(seed=task.seed, task_id=task.task_id, group=position - iteration * n))
        return starts

    # ---- one update ---------------------------------------------------------------------------
    def _reference_logprobs(self, episodes: list) -> list[list[float]]:
        """pi_ref's log-probabilities of `episodes` (per token, or per turn in `choose` mode), no gradients."""

        def run(model: torch.nn.Module) -> list[list[float]]:
            params = self.params
            return policy_logprobs_without_grad(
                self._forward_of(model),
                episodes,
                self.pad_id,
                self.temperature,
                params.micro_batch_size,
                params.micro_batch_tokens,
                self.choice_mode,
            )

        if self.reference is not None:
            return run(self.reference)
        with self.agent.lm.reference_context():  # LoRA: the adapters off are the stage's start
            return run(self.agent.lm.model)

    def update(self, episodes: list, starts: list[EpisodeStart]) -> dict[str, float]:
        from rldojo.llm.batch import micro_batches

        params, model = self.params, self.agent.lm.model
        if not model.training:
            model.train()
        rewards = torch.tensor([ep.reward for ep in episodes], dtype=torch.float32)
        keys = [(starts[ep.group].task_id, starts[ep.group].seed) for ep in episodes]  # group: index in starts
        vstar = torch.tensor([self.vstar(key) for key in keys], dtype=torch.float32)
        advantages = rewards - vstar
        aligned, clipped = {}, None
        mine = my_share(len(episodes))  # this process's share of the batch (all of it in a lone process)
        if params.loss == "apo":
            aligned["ref"] = [[] for _ in episodes]
            for i, row in zip(mine, self._reference_logprobs([episodes[i] for i in mine])):
                aligned["ref"][i] = row
        else:
            weights, clipped = pg_vstar_advantages(advantages)
        set_lr_factor(self.optimizer, lr_factor(self.iteration, self.runtime.iterations or 1000, params.optim))
        total, log_ratios = 0.0, []
        for positions in micro_batches([episodes[i] for i in mine], params.micro_batch_size, params.micro_batch_tokens):
            idx = [mine[p] for p in positions]
            micro = [episodes[i] for i in idx]
            logp, _, mask, given = policy_logprobs(
                self._forward_of(model),
                micro,
                self.pad_id,
                self.temperature,
                {name: [v[i] for i in idx] for name, v in aligned.items()},
                self.choice_mode,
            )
            mask = mask.to(logp.device)
            rows = torch.tensor(idx)
            if params.loss == "apo":
                loss, log_ratio = apo_loss(
                    logp,
                    given["ref"].to(logp.device),
                    mask,
                    rewards[rows].to(logp.device),
                    vstar[rows].to(logp.device),
                    params.beta2,
                    episodes=len(episodes),
                )
                log_ratios.append(log_ratio.cpu())
            else:
                loss = pg_vstar_loss(logp, mask, weights[rows].to(logp.device), params.beta2, episodes=len(episodes))
            loss.backward()
            total += float(loss.detach())
        grad_norm = step_accumulated(self.optimizer, self.params_list, params.max_grad_norm)
        self.agent.actor.backend.sync_weights()
        total = all_reduce_sums({"loss": total})["loss"]
        log_ratios = [part for share in all_gather_objects(log_ratios) for part in share]
        return {
            "loss": total,
            "log_ratio_mean": float(torch.cat(log_ratios).mean()) if log_ratios else math.nan,
            "adv_mean": float(advantages.mean()),
            "adv_std": float(advantages.std(correction=0)),
            "adv_clipped_share": float(clipped.float().mean()) if clipped is not None else math.nan,
            **self.vstar_stats(keys),
            "grad_norm": grad_norm,
        }

    # ---- facts and checkpoints ------------------------------------------------------------------
    def finish(self) -> dict[str, Any]:
        keys = [key for key in self._keys() if key in self.rewards]
        if not keys:
            return {"vstar_tasks": 0}
        stats = self.vstar_stats(keys)
        return {
            "vstar_tasks": len(keys),
            "vstar_k": self.params.k,
            **stats,
            "apo_iterations": self.iteration,
            "vstar_cache": str(self.params.vstar_cache or self.cache_path or ""),
        }

    def state_dict(self) -> dict:
        return {
            "optimizer": self.optimizer.state_dict(),
            "iteration": self.iteration,
            "tasks": None if self.tasks is None else [(t.task_id, t.seed) for t in self.tasks],
            "rewards": [(task_id, seed, returns) for (task_id, seed), returns in self.rewards.items()],
            "reference": None if self.reference is None else self.reference.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        load_optimizer_state(self.optimizer, state["optimizer"])
        self.iteration = int(state["iteration"])
        tasks = state["tasks"]
        self.tasks = None if tasks is None else [EpisodeStart(seed=int(s), task_id=int(t)) for t, s in tasks]
        self.rewards = {(int(t), int(s)): [float(r) for r in returns] for t, s, returns in state["rewards"]}
        if self.reference is not None and state.get("reference") is not None:
            self.reference.load_state_dict(state["reference"])

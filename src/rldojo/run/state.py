"""The state of one session: counters, clocks, return windows, evaluation bests, cadence.

Both loops (vector steps for tensor agents, whole episodes for language-model agents) keep one
`SessionState`; a checkpoint stores it as a plain dict (`as_dict`), so it loads with
`weights_only=True` and a resumed session continues from exactly these numbers.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any


@dataclass
class SessionState:
    frame: int = 0
    """Frames (env steps over all envs; agent turns for language models) so far."""
    episode: int = 0
    resumes: int = 0
    wall_seconds: float = 0.0
    train_seconds: float = 0.0
    """Wall time less evaluation (and the best checkpoints it writes): fps and time-to-solve use it."""
    eval_seconds: float = 0.0
    cpu_seconds: float = 0.0
    """CPU time of this process less evaluation: robust to other load on a shared machine."""
    eval_cpu_seconds: float = 0.0
    next_log: float = 0.0
    next_eval: float = math.inf
    next_ckpt: float = math.inf
    next_video: float = math.inf
    window_returns: list[float] = field(default_factory=list)
    window_lengths: list[float] = field(default_factory=list)
    window_success: list[float] = field(default_factory=list)
    best_return_ma: float = -math.inf
    best_eval_return: float = -math.inf
    last_eval: dict[str, Any] | None = None
    solved_frame: int | None = None
    solved_train_seconds: float | None = None
    solved_cpu_seconds: float | None = None
    # ---- language-model stages (unused by tensor agents) ----
    lm_stage: int = 0
    """Index of the stage in progress (or next to begin)."""
    lm_in_stage: bool = False
    lm_ticks: int = 0
    """Iterations of RL stages so far (the clock of eval_every / checkpoint_every when train.iterations is set)."""
    task_cursor: int = 0
    stage_evals: list[dict[str, Any]] = field(default_factory=list)
    stage_started_wall: float | None = None

    @classmethod
    def fresh(cls, log_every: int, eval_every: int, checkpoint_every: int, video_every: int = 0) -> SessionState:
        return cls(
            next_log=log_every,
            next_eval=eval_every if eval_every else math.inf,
            next_ckpt=checkpoint_every if checkpoint_every else math.inf,
            next_video=video_every if video_every else math.inf,
        )

    @classmethod
    def from_dict(cls, saved: dict[str, Any]) -> SessionState:
        """A checkpoint's state; keys this version does not know are dropped, missing ones get defaults."""
        known = {f.name for f in dataclasses.fields(cls)}
        state = cls(**{key: value for key, value in saved.items() if key in known})
        for event in ("eval", "ckpt"):  # language-model checkpoints kept these apart before
            if saved.get(f"lm_next_{event}") is not None:
                setattr(state, f"next_{event}", saved[f"lm_next_{event}"])
        return state

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

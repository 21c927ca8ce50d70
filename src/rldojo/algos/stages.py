"""Language-model stage kinds by name: `algo: <name>` alone, or as one of a pipeline's `stages`.

Each entry is the stage's parameter model (`StageParams`: its section, metric names and trainer)
and the agent config of a run that trains it alone (the parameters plus model, generation,
prompt and task sections). A new stage kind is one file under `algos/` and one line here.
"""

from __future__ import annotations

from typing import NamedTuple

from rldojo.algos.apo import APOConfig, APOParams
from rldojo.algos.grpo import GRPOConfig, GRPOParams
from rldojo.algos.lm_ppo import LMPPOConfig, LMPPOParams
from rldojo.algos.sft import SFTConfig, SFTParams
from rldojo.algos.stage import StageParams
from rldojo.config import StrictModel


class StageKind(NamedTuple):
    params: type[StageParams]
    config: type[StrictModel]


STAGES: dict[str, StageKind] = {
    "sft": StageKind(SFTParams, SFTConfig),
    "grpo": StageKind(GRPOParams, GRPOConfig),
    "lm_ppo": StageKind(LMPPOParams, LMPPOConfig),
    "apo": StageKind(APOParams, APOConfig),
}

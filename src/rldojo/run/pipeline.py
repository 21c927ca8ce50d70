"""`algo: pipeline`: several training stages on one language model, e.g. SFT then GRPO.

The stages run in order on the same model (with LoRA, each stage's adapters are merged before the
next begins), each from where the previous one left the model. The episode loop evaluates on
held-out tasks before the first stage and after each one; the session's stages.md (and the run's
report.md) show the table base -> SFT -> GRPO.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import Field

from rldojo.algos.grpo import GRPOParams
from rldojo.algos.lm_base import LMAgent, LMAgentConfig
from rldojo.algos.sft import SFTParams

Stage = Annotated[Union[SFTParams, GRPOParams], Field(discriminator="algo")]  # noqa: UP007


class PipelineConfig(LMAgentConfig):
    """`agent:` section for `algo: pipeline`."""

    algo: Literal["pipeline"] = "pipeline"
    """Algorithm name."""
    stages: list[Stage] = Field(min_length=1)
    """Training stages in order, each with its `algo` (sft or grpo) and that algorithm's settings."""

    def scaled_for_dev(self):
        """Every stage scaled down for `rldojo dev`."""
        return self.model_copy(update={"stages": [stage.scaled_for_dev() for stage in self.stages]})


class Pipeline(LMAgent):
    """Stages of language-model training run one after the other."""

    def stage_params(self) -> list[Any]:
        return list(self.cfg.stages)

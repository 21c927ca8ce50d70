"""`algo: pipeline`: several training stages on one language model, e.g. SFT then GRPO.

The stages run in order on the same model (with LoRA, each stage's adapters are merged before the
next begins), each from where the previous one left the model. The episode loop evaluates on
held-out tasks before the first stage and after each one; the session's stages.md (and the run's
report.md) show the table base -> SFT -> GRPO.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field

from rldojo.algos.lm_agent import LMAgentConfig
from rldojo.algos.stages import STAGES

#: One stage of any registered kind, told apart by its `algo`.
Stage = Annotated[Union[tuple(kind.params for kind in STAGES.values())], Field(discriminator="algo")]  # noqa: UP007


class PipelineConfig(LMAgentConfig):
    """`agent:` section for `algo: pipeline`."""

    algo: Literal["pipeline"] = "pipeline"
    """Algorithm name."""
    stages: list[Stage] = Field(min_length=1)
    """Training stages in order, each with its `algo` (a stage kind: sft, grpo, ...) and its settings."""

    def scaled_for_dev(self):
        """Every stage scaled down for `rldojo dev`."""
        return self.model_copy(update={"stages": [stage.scaled_for_dev() for stage in self.stages]})

"""Base of every evaluation result model: strict, immutable, and never holding NaN or infinity."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ResultModel(BaseModel):
    """A piece of an evaluation result. Undefined numbers are None with a note, never NaN."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        allow_inf_nan=False,
        use_attribute_docstrings=True,
    )

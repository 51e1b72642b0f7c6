"""The service's request and response bodies (pydantic), as the OpenAPI spec at ``/openapi.json`` shows them.

The JSON scoring path reads plain numeric bodies straight into columns (:mod:`aedetect.serve.columns`)
and validates anything else with :class:`ScoreRequest`, so that both give the same answers and the
same 4xx messages.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, WrapValidator
from pydantic_core import PydanticCustomError

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
#: Longest threshold rule text a request may send.
MAX_RULE_CHARS = 100
#: Most features a request may ask to have listed per flagged row.
MAX_TOP_FEATURES = 100


def _one_error(code: str, message: str):
    """A validator that reports one plain error instead of one per member of a union."""

    def validate(value, handler):
        if isinstance(value, bool) and code == "threshold_type":
            raise PydanticCustomError(code, message, {"kind": "bool"})
        try:
            return handler(value)
        except ValidationError:
            raise PydanticCustomError(code, message, {"kind": type(value).__name__}) from None

    return WrapValidator(validate)


Value = Annotated[
    float | int | bool | str | None,
    _one_error("feature_value", "A feature value must be a number, text, true/false or null; got {kind}"),
]
Threshold = Annotated[
    FiniteFloat | Annotated[str, Field(max_length=MAX_RULE_CHARS)] | None,
    _one_error(
        "threshold_type",
        "The threshold must be a finite number or a rule such as "
        f"'percentile:99.5' (at most {MAX_RULE_CHARS} characters); got {{kind}}",
    ),
]


class Problem(BaseModel):
    loc: list[str | int] = Field(description="Where in the request, e.g. ['body', 'records', 0, 'a'].")
    msg: str
    type: str


class ErrorResponse(BaseModel):
    """Every error the service gives: one line naming the problem and the fix."""

    detail: str
    errors: list[Problem] | None = Field(None, description="Each problem of a request that fails validation (422).")


class ScoreRequest(BaseModel):
    """Rows to score: ``records`` (a list of {feature: value}) or ``columns`` ({feature: [values]})."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"records": [{"a": 0.1, "b": -1.2}]}]})
    records: list[dict[str, Value]] | None = Field(None, description="One object per row, every feature once.")
    columns: dict[str, list[Value]] | None = Field(None, description="One list per feature, all of the same length.")
    threshold: Threshold = Field(
        None,
        description="Override the model's threshold for this request: a number, or a rule such as "
        "'percentile:99.5' fitted on the model's held-out normal scores.",
    )
    top_features: int = Field(
        3, ge=0, le=MAX_TOP_FEATURES, description="Features listed per flagged row (0 for none, which is faster)."
    )


class Contribution(BaseModel):
    feature: str
    error: FiniteFloat = Field(description="Reconstruction error of the feature (model space).")
    contribution: FiniteFloat = Field(description="Its part in the score: the error relative to its normal level.")


class Explanation(BaseModel):
    row: int
    top_features: list[Contribution]


class ScoreResponse(BaseModel):
    model: str
    threshold: FiniteFloat
    scores: list[FiniteFloat] = Field(description="Anomaly scores, higher = more anomalous.")
    is_anomaly: list[int] = Field(description="1 = anomaly (score above the threshold), 0 = normal.")
    n_flagged: int
    explanations: list[Explanation] = Field(description="The top features of each flagged row.")


__all__ = ["ScoreRequest", "ScoreResponse", "ErrorResponse", "Explanation", "Contribution", "Problem"]

"""The checks of the declared parameters that are neither a numeric range nor a set of names, and the
name of the type that each accepts (for the docstring and the command line's options)."""

from __future__ import annotations

from aedetect import _validation as v
from aedetect.parameters import choices


def _is_threshold(value) -> bool:
    from aedetect.thresholds import ThresholdRule, parse_threshold  # NumPy: imported when a value is checked

    return isinstance(value, ThresholdRule) or parse_threshold(value) is not None


INT_LIST = v.Check(lambda x: len(x) >= 1 and all(int(h) == h >= 1 for h in x), "a list of ints >= 1")
STR_LIST = v.Check(lambda x: all(isinstance(c, str) for c in x), "a list of str")
BOOL = v.Check(lambda x: isinstance(x, bool), "a bool")
METRICS = v.Check(
    lambda x: not isinstance(x, str) and all(m in choices.METRICS for m in x),
    "a list of names among {" + ", ".join(choices.METRICS) + "}",
)
THRESHOLD = v.Check(
    _is_threshold,
    "a threshold rule or a str like 'false_alarm_rate:0.01' (rules: " + ", ".join(choices.THRESHOLD_RULES) + ")",
)
DEVICE = v.Check(
    lambda d: isinstance(d, str) and (d in ("auto", "cpu") or d.startswith("cuda")), "'auto', 'cpu' or 'cuda[:N]'"
)

#: How the docstring and the command line name the type that a check accepts (Options and Interval
#: name themselves).
TYPE_NAMES = {
    INT_LIST: "list of int",
    STR_LIST: "list of str",
    BOOL: "bool",
    METRICS: "list of str",
    THRESHOLD: "str or ThresholdRule",
    DEVICE: "str",
}

"""The detector's docstring section "Parameters", written from the declaration."""

from __future__ import annotations

import textwrap

from aedetect import _validation as v
from aedetect.parameters.checks import TYPE_NAMES


def doc_type(parameter) -> str:
    """numpydoc's type line, scikit-learn's way: what the constraints accept, then the default."""
    names = []
    for rule in parameter.constraints:
        if rule is v.NONE:
            names.append("None")
        elif isinstance(rule, v.Options):
            names.append("{" + ", ".join(f'"{value}"' for value in rule.values) + "}")
        elif isinstance(rule, v.Interval):
            names.append(rule.describe().split(" ", 1)[1])  # "an int >= 1" -> "int >= 1"
        else:
            names.append(TYPE_NAMES[rule])
    return " or ".join(names[1:] + names[:1] if names[0] == "None" else names) + f", default={parameter.default!r}"


def numpydoc_parameters(parameters, indent: str = "    ", width: int = 100) -> str:
    """The numpydoc section "Parameters" of ``parameters``: each one's type (from its constraints), its
    help and its details, as a class docstring indented by ``indent`` holds it."""
    lines = [f"{indent}Parameters", f"{indent}----------"]
    for parameter in parameters:
        lines.append(f"{indent}{parameter.name} : {doc_type(parameter)}")
        text = parameter.help + (" " + parameter.details if parameter.details else "")
        lines += textwrap.wrap(text, width, initial_indent=indent * 2, subsequent_indent=indent * 2)
    return "\n".join(lines) + "\n"

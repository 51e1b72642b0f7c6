"""``aedetect train``'s options for the detector's parameters, derived from :mod:`aedetect.parameters`.

One option per declared parameter, named by ``Parameter.cli_option``, with the declared help, the
choices and the default: a parameter added to the declaration appears on the command line with no
change here. The option's type follows the parameter's constraints (an int, a float, an on/off flag,
a comma-separated list, or text that the detector checks).

The options are built when ``train`` itself is run or asked for help, never for ``aedetect --help`` or
another command; the declaration names its choices as data, so even ``train --help`` imports neither
PyTorch nor NumPy.
"""

from __future__ import annotations

import inspect
from typing import Annotated, Any

import typer
from typer.core import TyperCommand

from aedetect.cli.common import int_list, split_list

#: Where the help lists the derived options.
PANEL = "Model and training (see AutoencoderDetector)"


def _kind(parameter) -> str:
    """``int``, ``float``, ``bool``, ``ints`` (a list of integers), ``texts`` (a list) or ``text``."""
    from aedetect import _validation as v
    from aedetect.parameters.checks import TYPE_NAMES

    for rule in parameter.constraints:
        if isinstance(rule, v.Interval):
            return rule.kind.__name__
    names = {TYPE_NAMES.get(rule) for rule in parameter.constraints}
    for name, kind in (("bool", "bool"), ("list of int", "ints"), ("list of str", "texts")):
        if name in names:
            return kind
    return "text"


def _choices(parameter) -> tuple[str, ...]:
    from aedetect import _validation as v

    return next((rule.values for rule in parameter.constraints if isinstance(rule, v.Options)), ())


def _shown_default(parameter) -> str | None:
    default = parameter.default
    if default is None:
        return None  # the help says what None means ("adapts to the data")
    if isinstance(default, bool):
        return "on" if default else "off"
    if isinstance(default, (list, tuple)):
        return ",".join(str(part) for part in default)
    return str(default)


def _help(parameter, kind: str) -> str:
    text = parameter.help
    choices = _choices(parameter)
    if choices and not all(choice in text for choice in choices):
        text = f"{text.rstrip('.')}: {', '.join(choices[:-1])} or {choices[-1]}."
    if kind in ("ints", "texts"):
        text += " Comma-separated."
    default = _shown_default(parameter)
    return text if default is None else f"{text} [default: {default}]"


def option(parameter) -> inspect.Parameter:
    """The keyword parameter, annotated for Typer, that sets ``parameter`` on the command line."""
    kind = _kind(parameter)
    flag = "--" + parameter.cli_option.replace("_", "-")
    declarations = [f"{flag}/--no-{flag[2:]}"] if kind == "bool" else [flag]
    python_type = {"int": int, "float": float, "bool": bool}.get(kind, str)
    info = typer.Option(*declarations, help=_help(parameter, kind), show_default=False, rich_help_panel=PANEL)
    return inspect.Parameter(
        parameter.name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[python_type | None, info]
    )


def detector_values(values: dict[str, Any]) -> dict[str, Any]:
    """The options given on the command line (not None) as detector parameters (lists split)."""
    from aedetect.parameters import PARAMETERS

    out = {}
    for parameter in PARAMETERS:
        value = values.get(parameter.name)
        if value is None:
            continue
        kind = _kind(parameter)
        if kind == "ints":
            value = int_list(value, "--" + parameter.cli_option.replace("_", "-")) or None
        elif kind == "texts":
            value = split_list(value)
        if value is not None:
            out[parameter.name] = value
    return out


def _full_command(function, name: str) -> TyperCommand:
    """``function``'s own options plus one per declared parameter that it does not declare itself."""
    from aedetect.parameters import PARAMETERS

    signature = inspect.signature(function, eval_str=True)
    own = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    taken = {p.name for p in own}  # e.g. verbose: the command's --quiet
    derived = [option(p) for p in PARAMETERS if p.cli_option not in taken and p.name not in taken]

    def command(**values):
        return function(**values)

    command.__signature__ = signature.replace(parameters=[*own, *derived])
    command.__doc__ = function.__doc__
    single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    single.command(name=name)(command)
    return typer.main.get_command(single)


def with_parameter_options(function) -> type[TyperCommand]:
    """A Typer command class for ``function(own options..., **detector_options)``.

    Register with ``app.command(cls=with_parameter_options(f))(f)``: the group lists the command by
    its docstring alone; its options (its own and the derived ones) are built on first use.
    """
    signature = inspect.signature(function, eval_str=True)
    function.__signature__ = signature.replace(
        parameters=[p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    )
    built: dict[str, TyperCommand] = {}

    class Command(TyperCommand):
        def _full(self) -> TyperCommand:
            if "command" not in built:
                built["command"] = _full_command(function, self.name)
            return built["command"]

        params = property(lambda self: self._full().params, lambda self, value: None)
        callback = property(lambda self: self._full().callback, lambda self, value: None)

    return Command

"""The package's structure: the parameter declaration matches the detector and the command line, and
the import layers of DESIGN.md hold (no inner layer imports an outer one, no cycles)."""

from __future__ import annotations

import inspect
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from aedetect import AutoencoderDetector
from aedetect._validation import InvalidParameterError
from aedetect.parameters import CONSTRAINTS, DEFAULTS, PARAMETERS, validate

ROOT = Path(__file__).resolve().parents[1]


def test_the_declaration_is_the_constructor_signature_names_order_and_defaults():
    signature = inspect.signature(AutoencoderDetector.__init__)
    declared = [(p.name, p.default) for p in signature.parameters.values() if p.name != "self"]
    assert declared == [(parameter.name, parameter.default) for parameter in PARAMETERS]


def _documented(docstring: str) -> set[str]:
    section = docstring.split("Parameters\n    ----------\n", 1)[1].split("\n\n", 1)[0]
    names = set()
    for line in section.splitlines():
        match = re.match(r"^    (\w[\w, ]*) :", line)
        if match:
            names.update(name.strip() for name in match.group(1).split(","))
    return names


def test_every_declared_parameter_is_documented_in_the_class_docstring():
    assert _documented(AutoencoderDetector.__doc__) == {parameter.name for parameter in PARAMETERS}


def test_every_declared_parameter_has_a_one_line_help():
    for parameter in PARAMETERS:
        assert parameter.help and "\n" not in parameter.help and parameter.help.endswith("."), parameter.name


def test_the_defaults_pass_their_own_checks():
    validate("AutoencoderDetector", dict(DEFAULTS))


@pytest.mark.parametrize("parameter", PARAMETERS, ids=lambda parameter: parameter.name)
def test_the_detector_checks_each_parameter_with_its_declared_constraints(parameter):
    expected = " or ".join(rule.describe() for rule in CONSTRAINTS[parameter.name])
    detector = AutoencoderDetector(**{parameter.name: object()})
    with pytest.raises(InvalidParameterError) as caught:
        detector._validate_params()
    assert str(caught.value).startswith(f"The {parameter.name!r} parameter of AutoencoderDetector must be {expected};")


def _train_options() -> dict[str, str]:
    import typer

    from aedetect.cli import app

    command = typer.main.get_command(app).commands["train"]
    return {opt: param.help or "" for param in command.params for opt in (*param.opts, *param.secondary_opts)}


def test_every_declared_parameter_has_a_train_option_with_help():
    options = _train_options()
    for parameter in PARAMETERS:
        flag = "--" + parameter.cli_option.replace("_", "-")
        assert flag in options, f"{parameter.name}: 'aedetect train' has no {flag}"
        assert options[flag].strip(), f"{flag} has no help"


# -- import layers -----------------------------------------------------------------------------------


def test_the_import_contracts_of_pyproject_hold():
    lint_imports = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if lint_imports is None:
        pytest.skip("import-linter is not installed (pip install -e '.[dev]')")
    result = subprocess.run([lint_imports, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def _cycles(graph) -> list[set[str]]:
    """Modules that import each other, directly or through others (strongly connected, Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = set()
            while True:
                member = stack.pop()
                component.add(member)
                if member == module:
                    break
            if len(component) > 1:
                cycles.append(component)

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return cycles


def test_no_module_imports_itself_through_others_even_inside_a_function():
    grimp = pytest.importorskip("grimp")
    cycles = _cycles(grimp.build_graph("aedetect", include_external_packages=False))
    assert cycles == []

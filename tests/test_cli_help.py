"""The command line's help: quick to start, whole at 80 columns, and the train options derived from the
detector's parameter declaration."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import typer

from aedetect.cli import app
from aedetect.cli.parameter_options import _full_command
from aedetect.cli.train import train
from aedetect.parameters import PARAMETERS, Parameter

HEAVY = ("torch", "pandas", "sklearn", "numpy")


def _run(*args: str, columns: int = 80) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": str(columns), "PYTHONWARNINGS": ""}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, timeout=120, stdin=subprocess.DEVNULL
    )


def _imported(*argv: str) -> set[str]:
    """Top-level packages that ``python -m aedetect ARGV`` imported (from ``-X importtime``)."""
    done = _run("-X", "importtime", "-m", "aedetect", *argv)
    names = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    assert names, done.stderr
    return names


@pytest.mark.parametrize(
    "argv",
    [
        ("--help",),
        ("score", "--help"),
        ("score",),
        ("evaluate", "--bogus"),
        ("nope",),
        ("train",),
        ("train", "data.csv", "--latent-dim", "many"),
        ("train", "data.csv", "--bogus"),
    ],
    ids=[
        "help",
        "score-help",
        "missing-argument",
        "unknown-option",
        "unknown-command",
        "train-missing-argument",
        "train-bad-value",
        "train-unknown-option",
    ],
)
def test_help_and_argument_errors_import_no_heavy_library(argv):
    imported = _imported(*argv)
    assert "typer" in imported
    assert not imported & set(HEAVY), sorted(imported & set(HEAVY))


def test_train_help_lists_the_declared_options_without_importing_torch():
    """What ``train --help`` loads, read from ``sys.modules`` after the command has answered."""
    code = (
        "import sys, runpy\n"
        "sys.argv = ['aedetect', 'train', '--help']\n"
        "try:\n"
        "    runpy.run_module('aedetect', run_name='__main__', alter_sys=True)\n"
        "except SystemExit as done:\n"
        "    assert done.code == 0, done.code\n"
        "print('MODULES', ' '.join(sorted(sys.modules)))\n"
    )
    done = _run("-c", code)
    assert done.returncode == 0, done.stderr
    help_text, _, modules = done.stdout.rpartition("MODULES ")
    assert "--latent-dim" in help_text and "--activation" in help_text
    loaded = set(modules.split())
    assert "aedetect.parameters" in loaded
    assert not {name for name in loaded if name.split(".")[0] in HEAVY}


def test_the_declared_choices_are_the_registries():
    """The declaration names its choices as data (so that help needs no PyTorch); they are the registries'."""
    from aedetect import kinds, thresholds
    from aedetect.models import dense
    from aedetect.parameters import choices
    from aedetect.preprocessing import tables
    from aedetect.training import loop, variants

    registries = {
        "ARCHITECTURES": ("auto", *kinds.KIND_OF_ARCHITECTURE),
        "ACTIVATIONS": dense.ACTIVATIONS,
        "NORMALIZATIONS": dense.NORMALIZATIONS,
        "OUTPUT_ACTIVATIONS": dense.OUTPUT_ACTIVATIONS,
        "SCALERS": tables.SCALERS,
        "IMPUTES": tables.IMPUTES,
        "OPTIMIZERS": loop.OPTIMIZERS,
        "LOSSES": loop.LOSSES,
        "METRICS": loop.METRICS,
        "VARIANTS": variants.VARIANTS,
        "NOISES": variants.NOISES,
        "THRESHOLD_RULES": thresholds.RULES,
    }
    for name, registry in registries.items():
        assert getattr(choices, name) == tuple(registry), name


def _commands() -> dict:
    return typer.main.get_command(app).commands


@pytest.mark.parametrize("name", ["train", "score", "evaluate", "report", "serve", "export", "demo", "datasets"])
def test_help_at_80_columns_keeps_every_option_whole(name):
    done = _run("-m", "aedetect", name, "--help", columns=80)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    text = " ".join(lines)
    for param in _commands()[name].params:
        for option in (*param.opts, *param.secondary_opts):
            if option.startswith("-"):
                assert option in done.stdout, f"{option} is cut or missing in 'aedetect {name} --help'"
    assert "<bool>" not in text and "…" not in text


def test_top_level_help_names_every_command_on_one_line_each():
    done = _run("-m", "aedetect", "--help", columns=80)
    assert done.returncode == 0, done.stderr
    for name, command in _commands().items():
        line = next(line for line in done.stdout.splitlines() if line.strip().startswith(name + " "))
        assert line.split(name, 1)[1].strip() == command.help.split("\n")[0].strip()


def _train_option_help(command) -> dict[str, str]:
    return {opt: param.help or "" for param in command.params for opt in (*param.opts, *param.secondary_opts)}


def test_a_parameter_added_to_the_declaration_appears_on_train(monkeypatch):
    import aedetect.parameters

    added = Parameter("smoothing", 0.5, PARAMETERS[4].constraints, "A parameter declared for this test only.")
    monkeypatch.setattr(aedetect.parameters, "PARAMETERS", (*PARAMETERS, added))
    options = _train_option_help(_full_command(train, "train"))
    assert options["--smoothing"] == "A parameter declared for this test only. [default: 0.5]"


def test_train_options_show_the_declared_help_choices_and_default():
    options = _train_option_help(_commands()["train"])
    activation = next(p for p in PARAMETERS if p.name == "activation")
    assert options["--activation"].startswith(activation.help.rstrip("."))
    assert "relu, leaky_relu" in options["--activation"] and options["--activation"].endswith("[default: relu]")
    assert "--no-rotation-head" in options and "--seed" in options and "--categorical" in options

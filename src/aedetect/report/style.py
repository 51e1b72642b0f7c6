"""The figures' house style and the helpers every figure module shares.

Figures are built on the Agg canvas directly (no ``pyplot`` state, safe in threads and servers) with
the Okabe-Ito palette, which stays distinguishable under the common colour-vision deficiencies;
:func:`styled` applies the style while one figure is built, without touching the caller's settings.

Examples
--------
>>> import numpy as np
>>> spans_decades(np.geomspace(0.01, 100, 50)), spans_decades(np.linspace(1, 2, 50))
(True, False)
"""

from __future__ import annotations

import functools

import matplotlib
import matplotlib.ticker
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

#: Okabe & Ito (2008), "Color Universal Design".
OKABE_ITO = {
    "blue": "#0072B2",
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "yellow": "#F0E442",
    "black": "#000000",
}
NORMAL, ANOMALY, THRESHOLD = OKABE_ITO["blue"], OKABE_ITO["vermillion"], OKABE_ITO["black"]
CYCLE = [OKABE_ITO[k] for k in ("blue", "vermillion", "green", "orange", "purple", "sky", "black")]
STYLE = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "legend.framealpha": 0.9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": matplotlib.cycler(color=CYCLE),
    "savefig.dpi": 110,
    "figure.dpi": 110,
    "svg.fonttype": "none",
}
SCORE_LABEL = "anomaly score (higher = more anomalous)"


def new_figure(width: float, height: float, title: str | None = None) -> Figure:
    """An empty figure of ``width`` by ``height`` inches on its own Agg canvas, with a bold ``title``."""
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    if title:
        figure.suptitle(title, fontweight="bold", fontsize=12)
    return figure


def styled(function):
    """Build the figure under the house style without touching the caller's matplotlib settings."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs) -> Figure:
        with matplotlib.rc_context(STYLE):
            return function(*args, **kwargs)

    return wrapper


def spans_decades(scores: np.ndarray) -> bool:
    """Scores spread over orders of magnitude read better on a log axis (needs positive scores)."""
    positive = scores[scores > 0]
    if positive.size < scores.size or positive.size < 2:
        return False
    return float(np.quantile(positive, 0.999) / np.quantile(positive, 0.01)) > 30


def log_scale(ax, which: str) -> None:
    """A log axis labelled with plain numbers at 1-2-5 steps, which read faster than powers of ten."""
    getattr(ax, f"set_{which}scale")("log")
    axis = ax.xaxis if which == "x" else ax.yaxis
    low, high = sorted(getattr(ax, f"get_{which}lim")())
    decades = np.log10(high / low) if low > 0 else np.inf
    axis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0) if decades <= 3 else (1.0,)))
    axis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def percent(share: float) -> str:
    """A share as a percentage, with one more decimal below 10 %."""
    return f"{share:.2%}" if share < 0.1 else f"{share:.1%}"


def short_label(name: str, width: int = 24) -> str:
    """A name from the data as a label: shortened, and "$" escaped so that matplotlib shows it as written
    instead of typesetting "$...$" as TeX (or failing on it: tick labels are parsed when drawn)."""
    return (name if len(name) <= width else name[: width - 1] + "…").replace("$", r"\$")

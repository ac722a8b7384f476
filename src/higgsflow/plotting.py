"""One plotting style for every figure higgsflow writes: matplotlib (Agg) with mplhep's CMS style.

Every module that draws uses these three calls, so that all figures carry the same header, the same fonts and the
same refusal to replace an existing file:

>>> plt, mplhep = style()                                # doctest: +SKIP
>>> fig, ax = plt.subplots()                             # doctest: +SKIP
>>> cms_label(ax, com=13.6)                              # "CMS Simulation Private Work  (13.6 TeV)"  # doctest: +SKIP
>>> save_figure(fig, "roc.png", overwrite=False)         # doctest: +SKIP

The header says "Simulation" (higgsflow's samples are simulated) and "Private Work" by default: figures made with
higgsflow are not CMS-approved results. √s comes from the data where it is known (the jet generator runs at
13.6 TeV, :data:`higgsflow.physics.constants.SQRT_S_RUN3`); ``com=None`` leaves it out.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from higgsflow.errors import DataError

__all__ = ["DEFAULT_LABEL", "PETROFF_10", "cms_label", "colours", "save_figure", "style"]

log = logging.getLogger(__name__)

#: the text after "CMS Simulation" in every header
DEFAULT_LABEL = "Private Work"

#: the 10-colour palette CMS recommends for more categories than its 6-colour default (Petroff, arXiv:2107.02270)
PETROFF_10 = (
    "#3f90da", "#ffa90e", "#bd1f01", "#94a4a2", "#832db6", "#a96b59", "#e76300", "#b9ac70", "#717581", "#92dadd",
)  # fmt: skip


def colours(n: int) -> list[str]:
    """``n`` distinct colours: the CMS style's own cycle (6 colours) when it is long enough, else Petroff's 10
    (repeated beyond 10)."""
    import mplhep

    # the style's own cycle, read without applying the style (that would reset a figure's rc_context)
    cycle = list(mplhep.style.CMS["axes.prop_cycle"].by_key()["color"])
    palette = cycle if n <= len(cycle) else list(PETROFF_10)
    return [palette[i % len(palette)] for i in range(n)]


def style():
    """Select the Agg backend and mplhep's CMS style; return ``(matplotlib.pyplot, mplhep)``."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import mplhep

    plt.style.use(mplhep.style.CMS)
    return plt, mplhep


def cms_label(
    ax,
    *,
    label: str = DEFAULT_LABEL,
    com: float | None = None,
    lumi: float | None = None,
    data: bool = False,
    loc: int = 0,
) -> None:
    """Draw the CMS header on ``ax``: "CMS Simulation <label>" on the left, "<lumi> fb⁻¹ (<com> TeV)" on the right.

    ``data=False`` already adds "Simulation"; ``label`` must not repeat it. ``com`` is √s in TeV (None: not shown),
    ``lumi`` the integrated luminosity in fb⁻¹ (None: not shown).
    """
    import mplhep  # not style(): re-applying the style mid-figure would undo the caller's rc settings

    text = label.replace("Simulation", "").strip() if not data else label
    kwargs = {"data": data, "ax": ax, "loc": loc, "text": text}
    if lumi is not None:
        kwargs["lumi"] = f"{lumi:g}"  # 138, not 138.0
    if com is not None:
        kwargs["com"] = f"{com:g}"  # 13 TeV, not 13.0 TeV
    else:
        kwargs["rlabel"] = "" if lumi is None else f"{lumi:g} fb$^{{-1}}$"
    artists = [a for a in mplhep.cms.label(**kwargs) if a is not None]
    if loc != 0 or not _overlaps(ax, artists):
        return
    # A narrow frame: the left and right texts would run into each other above it. Shrink the header (down to
    # 60% of its size); if it still does not fit, keep √s and the luminosity above the frame and move
    # "CMS Simulation <label>" inside it, on two lines (mplhep's loc=2).
    import matplotlib.pyplot as plt

    size = float(plt.rcParams["font.size"])
    for scale in (0.9, 0.8, 0.7, 0.6):
        for artist in artists:
            artist.remove()
        artists = [a for a in mplhep.cms.label(**kwargs, fontsize=size * scale) if a is not None]
        if not _overlaps(ax, artists):
            return
    for artist in artists:
        artist.remove()
    mplhep.cms.label(**{**kwargs, "loc": 2})


def _overlaps(ax, artists) -> bool:
    """Whether any two of the header's texts overlap on the canvas."""
    try:
        renderer = ax.figure.canvas.get_renderer()
        boxes = [a.get_window_extent(renderer) for a in artists if a.get_text()]
    except Exception:  # a backend without a renderer: keep the layout
        return False
    return any(b1.overlaps(b2) for i, b1 in enumerate(boxes) for b2 in boxes[i + 1 :])


def save_figure(
    fig, path: str | os.PathLike[str] | None, *, overwrite: bool = False, close: bool = True
) -> Path | None:
    """Write ``fig`` to ``path`` (format from the suffix), refusing to replace a file unless ``overwrite``.

    Returns the path written (None when ``path`` is None). The figure is closed afterwards unless ``close=False``.
    """
    if path is None:
        return None
    path = Path(path)
    if path.exists() and not overwrite:
        raise DataError("output exists (use --overwrite)", file=path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    log.info("wrote %s", path)
    if close:
        import matplotlib.pyplot as plt

        plt.close(fig)
    return path

"""The one plotting style: the CMS header says each word once, never overlaps itself, outputs are not replaced."""

from __future__ import annotations

import pytest

pytest.importorskip("mplhep")

from higgsflow.errors import DataError
from higgsflow.plotting import cms_label, save_figure, style


def _texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts if t.get_text()]


@pytest.mark.parametrize("label", ["Private Work", "Simulation Preliminary", "Preliminary"])
def test_header_says_simulation_once_and_the_energy_given(label):
    plt, _ = style()
    fig, ax = plt.subplots()
    cms_label(ax, label=label, com=13.6)
    joined = " ".join(_texts(fig))
    assert joined.count("Simulation") == 1 and joined.count("CMS") == 1
    assert "13.6 TeV" in joined and "13 TeV" not in joined
    plt.close(fig)


def test_numbers_are_written_as_physicists_write_them():
    plt, _ = style()
    fig, ax = plt.subplots(figsize=(12, 8))
    cms_label(ax, com=13.0, lumi=138.0)
    joined = " ".join(_texts(fig))
    assert "(13 TeV)" in joined and "138 " in joined and "13.0" not in joined and "138.0" not in joined
    plt.close(fig)


def test_no_energy_when_unknown():
    plt, _ = style()
    fig, ax = plt.subplots()
    cms_label(ax)
    assert "TeV" not in " ".join(_texts(fig))
    plt.close(fig)


@pytest.mark.parametrize("width", [5, 7, 10, 14])
def test_header_texts_never_overlap(width):
    plt, _ = style()
    fig, ax = plt.subplots(figsize=(width, width))
    cms_label(ax, com=13.6, lumi=138)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in ax.texts if t.get_text()]
    assert len(boxes) >= 3
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])
    assert "138" in " ".join(_texts(fig))
    plt.close(fig)


def test_save_figure_refuses_to_replace_a_file(tmp_path):
    plt, _ = style()
    fig, _ax = plt.subplots()
    path = save_figure(fig, tmp_path / "a.png", close=False)
    assert path.stat().st_size > 1000
    with pytest.raises(DataError, match="output exists"):
        save_figure(fig, path)
    save_figure(fig, path, overwrite=True)

"""GEFF export, checked by the geff package's own validator and reader."""

from __future__ import annotations

import pytest

from napari_sam2.core.errors import Sam2InputError
from napari_sam2.core.geff_export import write_geff
from tests.core.unit.test_ctc_export import dividing_population

geff = pytest.importorskip("geff")


def test_geff_export_validates_and_reads_back_with_the_division(tmp_path):
    labels, lineage = dividing_population()
    path = write_geff(tmp_path / "cells.geff", labels, lineage, scale=(5.0, 0.5, 0.5))
    geff.validate_structure(path)
    graph, metadata = geff.read(path)
    cells_per_frame = [1, 1, 2, 3, 2, 3, 3]  # cell 4 enters at 2 and is missed at 4; 1 divides at 3
    assert graph.number_of_nodes() == sum(cells_per_frame)
    mothers = [n for n in graph.nodes if graph.out_degree(n) == 2]
    assert len(mothers) == 1 and graph.nodes[mothers[0]]["t"] == 2
    # 6 within-track links for 1, 2, 3; 2 daughters; 4 and its later part (3 + 1 frames) linked across the gap
    assert graph.number_of_edges() == 2 + 3 + 3 + 2 + 1 + 1 + 1
    assert [a.name for a in metadata.axes] == ["t", "y", "x"] and metadata.axes[0].scale == 5.0
    with pytest.raises(Sam2InputError, match="exists already"):
        write_geff(path, labels, lineage)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]

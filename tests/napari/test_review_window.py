"""The Review tab in a real napari window, as a biologist uses it (review issue): the labels
chosen in *write into*, *Find likely mistakes*, N and P on the canvas, Accept, a brush stroke
that fixes one mistake, Ctrl-Z, saving and opening the result again. Run in a fresh process
(``review_session.py``) because it needs its own window."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.napari.windows import run_window

pytestmark = pytest.mark.gui  # skipped without a display (tests/conftest.py)

SCRIPT = Path(__file__).with_name("review_session.py")


def test_the_review_tab_walks_fixes_and_keeps_its_marks_through_save_and_reopen(tmp_path):
    found = run_window(SCRIPT, tmp_path, timeout=300, clean=True)
    assert found["bound"]
    # The three mistakes put in, most suspicious first: the swap, the flicker, the lost cell.
    assert found["items"] == [["swap", 1, 8], ["flicker", 3, 5], ["end_inside", 5, 6]]
    assert found["first"] == ["swap", 1, 8]
    assert found["jumped"] == {"frame": True, "camera_moved": True, "selected": True, "reason_shown": True}
    assert found["n_then_p"] == [[3, 5], [1]] and found["back_to_first"]  # N: the flicker; P: back
    assert found["after_accept"]["open"] == 2 and "1 accepted" in found["after_accept"]["summary"]
    assert found["painted_pixels"] > 200  # the stroke painted cell 3 back on frame 5 ...
    assert found["after_fix"] == [["swap", 1], ["end_inside", 5]]  # ... and its item left
    assert found["undone_pixels"] == 0  # Ctrl-Z took the stroke back ...
    assert found["after_undo"] == [["swap", 1], ["flicker", 3], ["end_inside", 5]]  # ... and the item
    assert found["saved_marks"] == {"swap:1:8": "accepted"}
    assert found["reopened"]["bound"] and found["reopened"]["accepted_again"] and found["reopened"]["open"] == 2

"""Small holes in SAM 2's low-resolution mask logits, filled as Meta's video predictor fills them.

Meta builds its video predictor with ``fill_hole_area=8``: after each frame's inference,
every connected background region (logit <= 0, 8-connectivity) of at most 8 pixels of the
low-resolution logits (256² for a 1024² input) becomes foreground with logit 0.1, before the
masks are stored, fed back as a click's previous mask and upsampled for the user. Meta does
this with a CUDA kernel and silently skips it on a CPU, and transformers has nothing like it,
so elsewhere SAM 2's masks depended on the machine. Here it runs the same on every device,
with scipy's connected components on the CPU (the logits are small).

Only holes: Meta's video predictor removes no specks (small foreground islands). Speck
removal exists in Meta's *image* predictor only (``max_sprinkle_area``), not in tracking.
"""

from __future__ import annotations

import numpy as np

#: Meta's ``fill_hole_area`` for its video predictor.
DEFAULT_FILL_HOLE_AREA = 8
#: The logit a filled hole gets (Meta's choice: just above the threshold).
FILLED_LOGIT = 0.1

_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


def fill_small_holes(logits, max_area: int = DEFAULT_FILL_HOLE_AREA):
    """``logits`` (N, 1, H, W) with background regions of at most ``max_area`` pixels filled.

    Returns the same tensor when nothing is filled, a new one otherwise (same dtype and
    device). ``max_area <= 0`` does nothing.
    """
    if max_area <= 0:
        return logits
    import torch
    from scipy import ndimage

    background = (logits <= 0).cpu().numpy()
    holes = np.zeros_like(background)
    for index in np.ndindex(background.shape[:-2]):
        labels, count = ndimage.label(background[index], structure=_EIGHT_CONNECTED)
        if count == 0:
            continue
        areas = np.bincount(labels.ravel())
        small = areas <= max_area
        small[0] = False  # label 0 is the foreground
        holes[index] = small[labels]
    if not holes.any():
        return logits
    fill = torch.from_numpy(holes).to(logits.device)
    return torch.where(fill, torch.tensor(FILLED_LOGIT, dtype=logits.dtype, device=logits.device), logits)

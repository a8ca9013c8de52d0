"""Names of the layers the plugin makes, and its colours: in one place."""

PROMPTS_LAYER = "SAM 2 prompts"
LABELS_LAYER = "SAM 2 labels"
ROI_LAYER = "SAM 2 region"
BOXES_LAYER = "SAM 2 boxes"
SEEDS_LAYER = "SAM 2 seeds"
TRACKS_LAYER = "SAM 2 tracks"
OURS = (PROMPTS_LAYER, LABELS_LAYER, ROI_LAYER, BOXES_LAYER, SEEDS_LAYER, TRACKS_LAYER)
POSITIVE_BORDER = "white"
NEGATIVE_BORDER = "red"

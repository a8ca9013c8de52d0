"""Layer names, command ids and colours used by the plugin, in one place."""

PROMPTS_LAYER = "SAM 2 prompts"
LABELS_LAYER = "SAM 2 labels"
ROI_LAYER = "SAM 2 region"
BOXES_LAYER = "SAM 2 boxes"
WIDGET_COMMAND = "napari-sam2.tracker_widget"
POSITIVE_BORDER = "white"
NEGATIVE_BORDER = "red"

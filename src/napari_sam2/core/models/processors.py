"""The processor and the transformers class of a video model (SAM 2, EdgeTAM, SAM 3), and what
each transformers release can build."""

from __future__ import annotations

from ..errors import ModelUnavailableError

#: The first transformers release that builds EdgeTAM offline (tested from there on).
EDGETAM_MIN_TRANSFORMERS = "5.20"


def require_edgetam_support() -> None:
    """EdgeTAM was tested from transformers 5.20; older releases fetch its backbone from the hub."""
    import transformers
    from packaging.version import Version

    if Version(transformers.__version__) < Version(EDGETAM_MIN_TRANSFORMERS):
        raise ModelUnavailableError(
            f"EdgeTAM needs transformers {EDGETAM_MIN_TRANSFORMERS} or newer (installed: {transformers.__version__}); "
            f"pip install 'transformers>={EDGETAM_MIN_TRANSFORMERS}'."
        )


def config_image_size(config) -> int:
    size = config.image_size
    return int(size[0] if isinstance(size, (list, tuple)) else size)


def make_processor(image_size: int = 1024, family: str = "sam2"):
    """The reference processor for a square input size: SAM 2's (ImageNet mean and std), or
    the SAM 3 tracker's (``family="sam3"``: mean and std 0.5, as Meta's SAM 3 normalises)."""
    from transformers import Sam2ImageProcessor, Sam2VideoProcessor, Sam2VideoVideoProcessor

    size = {"height": image_size, "width": image_size}
    mask_size = {"height": image_size // 4, "width": image_size // 4}
    if family == "sam3":
        from transformers import Sam3ImageProcessor, Sam3TrackerVideoProcessor

        video = Sam2VideoVideoProcessor(size=size, image_mean=[0.5] * 3, image_std=[0.5] * 3)
        return Sam3TrackerVideoProcessor(
            image_processor=Sam3ImageProcessor(size=size, mask_size=mask_size), video_processor=video
        )
    image_processor = Sam2ImageProcessor(size=size, mask_size=mask_size)
    return Sam2VideoProcessor(image_processor=image_processor, video_processor=Sam2VideoVideoProcessor(size=size))


def model_family(model_or_config) -> str:
    """``sam3`` for the SAM 3 tracker, ``sam2`` for SAM 2 and EdgeTAM."""
    config = getattr(model_or_config, "config", model_or_config)
    return "sam3" if getattr(config, "model_type", "").startswith("sam3") else "sam2"


def video_model_class(model_type: str, label: str):
    """The transformers class of a video model's ``model_type`` (SAM 2, EdgeTAM, SAM 3);
    one line for any other."""
    import transformers

    classes = {
        "sam2_video": "Sam2VideoModel",
        "edgetam_video": "EdgeTamVideoModel",
        "sam3_tracker_video": "Sam3TrackerVideoModel",
    }
    if model_type not in classes:
        raise ModelUnavailableError(
            f"{label} holds a {model_type or 'unknown'!r} model, not a SAM 2 video model "
            "(expected model_type sam2_video, edgetam_video or sam3_tracker_video)."
        )
    if model_type == "edgetam_video":
        require_edgetam_support()
    return getattr(transformers, classes[model_type])

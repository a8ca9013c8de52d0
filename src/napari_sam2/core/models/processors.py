"""The SAM 2 processor for a model, and what each transformers release can build."""

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


def make_processor(image_size: int = 1024):
    """The reference SAM 2 processor for a given square input size."""
    from transformers import Sam2ImageProcessor, Sam2VideoProcessor, Sam2VideoVideoProcessor

    size = {"height": image_size, "width": image_size}
    image_processor = Sam2ImageProcessor(size=size, mask_size={"height": image_size // 4, "width": image_size // 4})
    return Sam2VideoProcessor(image_processor=image_processor, video_processor=Sam2VideoVideoProcessor(size=size))

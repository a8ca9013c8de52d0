"""Device, precision and CPU threads: where and how a model runs."""

from __future__ import annotations

from ..errors import Sam2InputError


def pick_device(name: str = "auto") -> str:
    """``auto`` picks cuda, then mps, then cpu; an explicit choice must be available."""
    import torch

    name = (name or "auto").lower()
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if name == "auto":
        return "cuda" if cuda else "mps" if mps else "cpu"
    if name.startswith("cuda") and not cuda:
        raise Sam2InputError("The cuda device was chosen, but no CUDA GPU is available here: choose auto or cpu.")
    if name == "mps" and not mps:
        raise Sam2InputError("The mps device was chosen, but Apple's MPS is not available here: choose auto or cpu.")
    if name not in ("cpu", "mps") and not name.startswith("cuda"):
        raise Sam2InputError(f"Unknown device {name!r}; use auto, cpu, cuda or mps.")
    return name


PRECISIONS = ("auto", "fp32", "bf16")


def torch_threads(requested: int | None = None) -> int:
    """Threads for torch's intra-op pool: ``requested``, else NAPARI_SAM2_THREADS, else every core."""
    import os

    return int(requested or os.environ.get("NAPARI_SAM2_THREADS") or 0) or (os.cpu_count() or 1)


def set_torch_threads(requested: int | None = None) -> int:
    """Set torch's thread count in the calling thread, deliberately, not by inheritance."""
    import torch

    threads = torch_threads(requested)
    torch.set_num_threads(threads)
    return threads


def default_autocast_dtype(device: str, precision: str = "auto"):
    """The autocast dtype for ``precision``: ``auto`` is bf16 on CUDA and on CPUs with native
    bf16 (:func:`cpu_native_bf16`), fp32 elsewhere; ``fp32`` and ``bf16`` force one.

    On a CPU with AMX-BF16 and AVX512-BF16, bf16 autocast ran a sam2.1-tiny frame 2.8x faster
    than fp32 (mask IoU 0.985 against fp32); on one without them it was 8x slower
    (docs/benchmarks.md), so ``auto`` never picks it there.
    """
    import torch

    if precision not in PRECISIONS:
        raise Sam2InputError(f"Precision must be one of {', '.join(PRECISIONS)}, not {precision!r}.")
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if device.startswith("cuda") or (device == "cpu" and cpu_native_bf16()):
        return torch.bfloat16
    return None


#: CPU flags (Linux ``/proc/cpuinfo``) of native bf16 arithmetic.
NATIVE_BF16_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})
CPUINFO = "/proc/cpuinfo"


def cpu_native_bf16(cpuinfo: str | None = None) -> bool:
    """Whether this CPU computes in bf16 natively (AMX-BF16 or AVX512-BF16), read from its
    flags at run time. ``NAPARI_SAM2_CPU_BF16=0`` (or ``1``) overrides the answer (the test
    suite sets 0, so its masks do not depend on the machine)."""
    import os

    forced = os.environ.get("NAPARI_SAM2_CPU_BF16", "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    if cpuinfo is None:
        try:
            with open(CPUINFO, encoding="utf-8", errors="replace") as handle:
                cpuinfo = handle.read()
        except OSError:  # not Linux: no way to tell, so no
            return False
    flags = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags") and ":" in line:
            flags |= set(line.split(":", 1)[1].split())
    return bool(flags & NATIVE_BF16_FLAGS)


def quiet_third_party() -> None:
    """Silence transformers' and the hub's progress bars, logging and warnings (``--quiet``)."""
    import logging
    import warnings

    from huggingface_hub.utils import disable_progress_bars
    from transformers.utils import logging as hf_logging

    disable_progress_bars()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    for name in ("transformers", "huggingface_hub", "torch"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module=r"(transformers|huggingface_hub|torch|timm)(\.|$)")

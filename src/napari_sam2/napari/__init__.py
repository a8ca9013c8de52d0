"""Adapters between napari and the core: sample data now; layers, workers and writer to come.

Nothing here is imported by :mod:`napari_sam2.core`.
"""

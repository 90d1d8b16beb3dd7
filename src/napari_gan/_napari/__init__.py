"""The napari face of napari-gan: dock widgets, workers and sample data.

This package is the only one that imports napari, Qt or magicgui.
"""

"""The Qt-free engine of scl_desktop.

Everything here runs with only torch, torchvision, numpy, pillow and platformdirs installed.
rasterio is imported lazily where rasters are read or written. Qt is never imported.
"""

from scl_desktop import __version__

__all__ = ["__version__"]

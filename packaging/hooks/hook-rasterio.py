"""PyInstaller hook for rasterio: its (Cython) submodules and the data files of GDAL and PROJ.

The data folders are found the way rasterio finds them (inside the wheel, or in a conda or
system prefix) and bundled as ``rasterio/gdal_data`` and ``rasterio/proj_data``; the runtime
hook ``rthook_gdal_proj.py`` points ``GDAL_DATA`` and ``PROJ_DATA`` at them. The shared
libraries (``rasterio.libs``, or the prefix's GDAL) are found by PyInstaller's dependency analysis.
"""

from PyInstaller import isolated
from PyInstaller.utils.hooks import collect_submodules


@isolated.decorate
def _data_dirs() -> tuple:
    from rasterio._env import GDALDataFinder, PROJDataFinder

    return GDALDataFinder().search(), PROJDataFinder().search()


hiddenimports = collect_submodules("rasterio")
_gdal, _proj = _data_dirs()
if not _gdal or not _proj:
    raise SystemExit(f"hook-rasterio: GDAL data ({_gdal}) or PROJ data ({_proj}) not found; "
                     "reinstall rasterio (pip install --force-reinstall rasterio) and build again.")
datas = [(_gdal, "rasterio/gdal_data"), (_proj, "rasterio/proj_data")]

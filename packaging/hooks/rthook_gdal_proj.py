"""PyInstaller runtime hook: make GDAL and PROJ use the data folders bundled with the app.

Set unconditionally: a ``GDAL_DATA``/``PROJ_DATA`` of another GDAL installed on the machine
(e.g. OSGeo4W or QGIS on Windows) would not match the bundled libraries' versions.
"""

import os
import sys

for _name, _folder in (("GDAL_DATA", "gdal_data"), ("PROJ_DATA", "proj_data")):
    _path = os.path.join(sys._MEIPASS, "rasterio", _folder)
    if os.path.isdir(_path):
        os.environ[_name] = _path

"""PyInstaller hook for torchvision (replaces the contrib hook, which misses torchvision >= 0.29's libraries).

torchvision loads its compiled operators (``_C_stable``, ``_C`` before 0.29) and image codecs
(``image_stable``/``image``) by file path with ``torch.ops.load_library``, so PyInstaller's import
analysis does not see them: collect them as binaries inside ``torchvision/``. Without them
``import torchvision`` fails with "operator torchvision::nms does not exist".
"""

from PyInstaller.utils.hooks import collect_dynamic_libs

binaries = collect_dynamic_libs("torchvision", search_patterns=["_C*.so", "_C*.pyd", "image*.so", "image*.pyd"])
module_collection_mode = "pyz+py"  # as the contrib hook: torch's scripting reads torchvision's source

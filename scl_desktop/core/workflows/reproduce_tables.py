"""Which tables `scl reproduce` can compute and its defaults, without torch (the CLI's help reads them)."""

from __future__ import annotations

TABLES = (1, 2, 3, 4, 5)
DEFAULT_TABLES = (1, 2, 3)
DEFAULT_RESOLUTIONS = (("resnet18", 64), ("resnet18", 96), ("resnet18", 128), ("resnet18-small", 32),
                       ("resnet18-small", 64))
"""Table 5's encoders by default: ImageNet-stem vs small-stem ResNet-18 at the CPU's view sizes."""

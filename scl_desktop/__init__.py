"""scl_desktop: two-stage supervised-contrastive learning for imbalanced aerial scene recognition."""

import os

__version__ = "0.1.0"


def configure_process() -> None:
    """Process-wide settings the `scl` and `scl-desktop` entry points apply before torch loads.

    Idle OpenMP threads sleep instead of spinning: on a busy 2-core machine this made `scl demo`
    5.7x faster (528 s -> 93 s) with identical results. A value the user set is kept.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

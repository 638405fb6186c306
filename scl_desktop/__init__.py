"""scl_desktop: two-stage supervised-contrastive learning for imbalanced aerial scene recognition."""

__version__ = "0.1.0"

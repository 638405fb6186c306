"""Labels of the training settings in the GUI's forms (their tooltips come from the config classes)."""

from __future__ import annotations

LABELS: dict[str, str] = {
    "lr": "Learning rate", "num_threads": "CPU threads", "amp": "Mixed precision (AMP)", "arch": "Architecture",
    "proj_dim": "Projection size", "store_size": "Cache resolution", "cs_scl": "CS-SCL (cost-sensitive loss)",
    "cb": "CB", "weights_path": "Start from", "checkpoint_every": "Checkpoint every (epochs)",
    "hflip_p": "Horizontal flip p", "vflip_p": "Vertical flip p", "color_p": "Colour jitter p",
    "grayscale_p": "Greyscale p", "color": "Colour distortion", "crop": "Random crop", "flip": "Random flips",
    "rotate": "Random rotation", "compile": "torch.compile", "feature_views": "Feature views", "loss_norm": "CSCE normalisation",
    "cached_features": "Cache encoder features", "eval_every": "Evaluate every (epochs)",
    "tau": "Tau (tau-norm, logit-adj, la-loss)",
    "probe_every": "kNN probe every (epochs)", "probe_k": "kNN probe neighbours (k)",
}
"""Field labels where the field name alone would be cryptic."""

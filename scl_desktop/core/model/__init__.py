"""The learnable parts and what feeds them: networks, losses, batched augmentation, samplers,
checkpoints, and the predictor that turns a stored run back into a model."""

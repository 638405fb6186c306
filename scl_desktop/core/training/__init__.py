"""Training: the configurations, the shared loop and set-up, stage 1 (encoder), stage 2
(classifier), the Plain baselines, and DDP for torchrun."""

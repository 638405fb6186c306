"""Pretrained encoder weights: the catalogue of published backbones and their download cache."""

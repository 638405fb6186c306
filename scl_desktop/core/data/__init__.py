"""Datasets: what the images are (manifests), how they get in (import, sources, demo data),
how they are divided (splits) and how they are read fast (decoded cache, image decoding)."""

"""Labelling new imagery: inputs cut into windows (tiling), batched prediction, and the CSV,
GeoJSON and classification-raster exports."""

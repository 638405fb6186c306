"""Steps built from the others: the demo pipeline, the paper's tables, benchmarks, ONNX export."""

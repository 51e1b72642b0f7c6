"""Export a fitted detector (preprocessing, network and score) as one ONNX graph."""

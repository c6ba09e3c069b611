"""Export stage: PyTorch -> ONNX (with a parity check) [torch], ONNX -> int8 (no torch), and `textrnn bench`:
the speed of the PyTorch model against its ONNX exports (torch for the PyTorch row only)."""

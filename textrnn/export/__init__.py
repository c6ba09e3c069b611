"""Export stage: PyTorch -> ONNX (with a parity check) [torch], and ONNX -> int8 (no torch)."""

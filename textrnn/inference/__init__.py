"""Inference stage: ONNX Runtime sessions, the Predictor, `textrnn predict` as a call, and bench. No torch."""

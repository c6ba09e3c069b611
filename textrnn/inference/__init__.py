"""Inference stage: ONNX Runtime sessions, the online Predictor, what `textrnn predict` is asked and the
record it answers with, explanations. No torch (the batch engines are textrnn.batch)."""

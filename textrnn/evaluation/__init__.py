"""Evaluation: scores, calibration and mistakes of a model's predictions; inspection token by token."""

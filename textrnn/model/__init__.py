"""Model stage [torch]: the recurrent classifier and ensembles of it."""

from textrnn.model.network import Ensemble, TextClassifier, build_member, build_model

__all__ = ["Ensemble", "TextClassifier", "build_member", "build_model"]

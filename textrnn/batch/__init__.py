"""Batch stage: prediction over tables on data engines (Ray Data, Spark), beside the online Predictor
(textrnn.inference). No torch.

`predictor.py`: the picklable BatchPredictor (Ray actors, Spark's mapInPandas); `tables.py`:
`textrnn predict --engine ray`.
"""

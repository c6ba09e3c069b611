"""Training stage [torch]: batches, devices and precision, the fit loop, and the whole training job."""

"""predictor: scores request batches with onnxruntime and hot-swaps the registry's champion."""

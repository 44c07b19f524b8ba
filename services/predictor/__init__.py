"""predictor: Kafka requests in, onnxruntime batch scoring, predictions out; hot-swaps the champion."""

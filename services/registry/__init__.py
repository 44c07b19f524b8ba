"""The model registry: ONNX versions by sha256, aliases, promotion policy, HTTP API."""

"""Trainer service: labelled records -> sklearn pipeline -> ONNX (parity-checked) -> registry."""

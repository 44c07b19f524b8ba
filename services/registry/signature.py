"""The ONNX signature of a version, as onnxruntime loaded it: names, types, shapes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class TensorInfo(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    type: str  # onnxruntime's spelling, e.g. "tensor(float)"
    shape: tuple[int | str | None, ...]  # str: a named dynamic dimension, None: unnamed


class OnnxSignature(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]


def signature_of(session: Any) -> OnnxSignature:
    """The signature of an onnxruntime.InferenceSession."""

    def info(node: Any) -> TensorInfo:
        return TensorInfo(name=node.name, type=node.type, shape=tuple(node.shape))

    return OnnxSignature(
        inputs=tuple(info(i) for i in session.get_inputs()),
        outputs=tuple(info(o) for o in session.get_outputs()),
    )

"""The Quix Streams contender of bench/predictor_peers.py: the ONNX model served per message.

Runs in a virtual environment of its own (.venv-quix, from bench/quix-requirements.txt):
quixstreams pins pydantic and confluent-kafka older than the project locks. It imports nothing
from the project.

    .venv-quix/bin/python bench/peers/quix_app.py --bootstrap HOST:PORT --requests TOPIC \
        --results TOPIC --model model.onnx --features f00,f01,... --group GROUP

As good a per-message app as Quix Streams allows: one onnxruntime session built at start and
reused, one input buffer reused for every message (the model takes one [N, 1] float input per
feature), JSON through Quix's own orjson (de)serialisers, the output keyed by the request's
key (Quix keeps it), the features echoed as they came.
"""

from __future__ import annotations

import argparse
import uuid
from datetime import UTC, datetime
from typing import Any

import numpy as np
import onnxruntime as ort
from quixstreams import Application


def scorer(model: str, features: list[str], model_name: str) -> Any:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # one row per call: threads cost more than they give
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    output = [session.get_outputs()[0].name]
    row = np.zeros((1, len(features)), np.float32)
    feeds = {name: row[:, i : i + 1] for i, name in enumerate(features)}

    def score(request: dict[str, Any]) -> dict[str, Any]:
        values = request["features"]
        row[0] = [values[name] for name in features]
        prediction = float(session.run(output, feeds)[0][0, 0])
        return {
            "record_id": request["record_id"],
            "request_event_id": request["event_id"],
            "model_name": model_name,
            "model_version": 1,
            "prediction": prediction,
            "features": values,
            "occurred_at": datetime.now(UTC).isoformat(),
            "event_id": str(uuid.uuid4()),
            "kind": "prediction.made.v1",
        }

    return score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("bootstrap", "requests", "results", "model", "features", "group", "name"):
        parser.add_argument(f"--{name}", required=True)
    args = parser.parse_args()
    app = Application(
        broker_address=args.bootstrap,
        consumer_group=args.group,
        auto_offset_reset="earliest",
        use_changelog_topics=False,
        auto_create_topics=False,
        loglevel="WARNING",
        # A short poll wait: the app checks for new messages often at low rates.
        consumer_poll_timeout=0.1,
    )
    requests = app.topic(args.requests, value_deserializer="json")
    results = app.topic(args.results, value_serializer="json")
    sdf = app.dataframe(requests)
    sdf = sdf.apply(scorer(args.model, args.features.split(","), args.name))
    sdf.to_topic(results)
    app.run()


if __name__ == "__main__":
    main()

"""The monitor's checkpoints: its counted state and the offsets that state covers, written to a
compacted topic before those offsets are committed, so a restart counts nothing twice.

- checkpointer.py: takes checkpoints and commits the offsets they cover (the entry point)
- format.py: the checkpoint document as it travels (pydantic models, encode/decode)
- capture.py: the processor's and metrics' state into a checkpoint and back
- positions.py: the skip rule, which consumed records the state already holds
- kafka_store.py: the compacted topic the checkpoints are written to and read back from
"""

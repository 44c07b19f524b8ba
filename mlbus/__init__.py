"""mlbus tooling: the CLI, the local brokers, the data generator and the process runner."""

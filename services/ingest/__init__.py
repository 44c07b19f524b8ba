"""ingest: raw data events in, validated records out, rejects to a dead-letter topic."""

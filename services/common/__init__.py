"""Plumbing every service shares: Kafka settings, the broker, the HTTP ops routes, serving."""

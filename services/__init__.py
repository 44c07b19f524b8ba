"""The five mlbus services; each one runs as its own process (`python -m services.NAME`)."""

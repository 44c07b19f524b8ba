"""The monitor: prediction windows -> drift statistics, live error, metrics, drift events."""

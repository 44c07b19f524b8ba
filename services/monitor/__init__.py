"""The monitor: windows of predictions -> PSI drift against the registry's reference -> metrics."""

"""Feature definitions shared by training (batch, Spark) and serving (the streaming job)."""

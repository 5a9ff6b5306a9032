"""`fraudguard run`: every component started in order, watched together, stopped together."""

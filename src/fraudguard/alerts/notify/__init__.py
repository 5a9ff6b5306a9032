"""Notification channels for new alerts, fed from the store's outbox by the dispatcher."""

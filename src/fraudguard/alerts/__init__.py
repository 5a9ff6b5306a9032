"""The alert consumer service: the fraud-alerts topic into an idempotent store, notifications, review
API and live dashboard. No Spark dependency."""

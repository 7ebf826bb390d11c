"""Customer-portal sessions (not built yet)."""

"""Dashboard tables of the metering app, by area."""

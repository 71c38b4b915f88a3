"""Rates over time windows, read from the store's rollups."""

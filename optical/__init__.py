"""Optical planning: OCS circuits, wavelength routing, latency budgets."""

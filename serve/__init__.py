"""Liveri serve stage."""

"""Liveri export stage."""

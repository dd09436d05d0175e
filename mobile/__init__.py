"""Liveri mobile stage."""

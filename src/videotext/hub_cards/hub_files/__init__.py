"""Flat Hub files copied into exported folders: custom pipelines and the Space app (not imported by videotext)."""

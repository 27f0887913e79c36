"""Dialogs: preferences, missing weights, shortcuts, about."""

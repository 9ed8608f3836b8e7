"""Hooks of ml-connector: one module per external system, protocol only."""

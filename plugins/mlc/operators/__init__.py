"""Operators of ml-connector: thin wiring between hooks, formats and staging."""

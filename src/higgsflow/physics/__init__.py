"""Pure physics helpers: four-vectors, angles, pair features and jet substructure (no file I/O)."""

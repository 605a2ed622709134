"""Model files and the registry of versions: save, verify, load, promote, roll back."""

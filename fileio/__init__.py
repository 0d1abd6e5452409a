"""fileio: file helpers every package may use (standard library only; the lowest layer)."""

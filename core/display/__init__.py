"""Display helpers that need no GUI: image stretches and limits."""

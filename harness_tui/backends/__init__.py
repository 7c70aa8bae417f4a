"""Session backends: the seam a session runs through (`base`) and its implementations."""

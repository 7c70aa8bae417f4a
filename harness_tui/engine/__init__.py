"""The embedded engine: the Engine facade and what runs behind it."""

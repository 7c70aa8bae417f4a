"""GC: signals, drafts, retention, grade and code rules."""

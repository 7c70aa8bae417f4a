"""The dashboard's screens and modal prompts."""

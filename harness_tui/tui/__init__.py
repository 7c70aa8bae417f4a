"""The Textual dashboard. Nothing on the engine side imports from here."""

"""nnasr app: the `nnasr` command, the Textual TUI and audio sources."""

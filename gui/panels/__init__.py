"""Side panels and bars of the main window."""

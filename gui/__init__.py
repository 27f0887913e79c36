"""Lookalike's desktop app: a thin PySide6 + pyqtgraph layer over ``core``."""

"""The People tab (:mod:`~gui.people.view`) and the face boxes of the viewer
(:mod:`~gui.people.boxes`)."""

from gui.people.boxes import FaceBoxes
from gui.people.view import PeopleView

__all__ = ["FaceBoxes", "PeopleView"]

"""The People tab (:mod:`~gui.people.view`) and the face boxes of the viewer
(:mod:`~gui.people.boxes`), the person filter above the grid
(:mod:`~gui.people.filter_box`)."""

from gui.people.boxes import FaceBoxes
from gui.people.filter_box import PersonFilter
from gui.people.view import PeopleView

__all__ = ["FaceBoxes", "PeopleView", "PersonFilter"]

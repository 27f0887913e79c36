"""People: faces found in the photos (dlib), grouped into persons, named by the user.

:mod:`~core.faces.job` is the faces pass (a job), :mod:`~core.faces.store` the people in
the catalog and the user's corrections, :mod:`~core.faces.grouping` the incremental
grouping, :mod:`~core.faces.model` dlib's models (imported on first use only) and
:mod:`~core.faces.worker` the worker processes that run them.
"""

from core.faces.job import FacesResult, find_faces
from core.faces.model import available
from core.faces.store import Face, FaceStore, GroupResult, PeopleError, Person

__all__ = ["Face", "FaceStore", "FacesResult", "GroupResult", "PeopleError", "Person",
           "available", "find_faces"]

"""``lookalike people FOLDER [--json]``: the people found, and corrections to them.

    lookalike people FOLDER [--json]                 persons, face and photo counts, photos
    lookalike people name FOLDER PERSON_ID NAME      name a person (a name already given: merge)
    lookalike people merge FOLDER PERSON_ID INTO_ID  one person found twice
    lookalike people move FOLDER FACE_ID PERSON_ID   a face in the wrong person (0: none)
    lookalike people not-a-face FOLDER FACE_ID       the detector was wrong
    lookalike people faces FOLDER PERSON_ID [--json] a person's faces, with their ids
    lookalike people export-xmp FOLDER               named faces as MWG regions in sidecars
    lookalike people import-xmp FOLDER               names from MWG regions (digiKam, Lightroom)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cli.options import add_library_arguments, open_library
from cli.progress import run_with_bars
from core.catalog import Catalog
from core.errors import LookalikeError
from core.faces import FaceStore
from core.faces.xmp import import_face_regions, write_face_regions
from core.paths import display

NAME = "people"
HELP = "list the people found in a folder's photos; name, merge and correct them"
ACTIONS = {"name": 2, "merge": 2, "move": 2, "not-a-face": 1, "faces": 1,  # action: values
           "export-xmp": 0, "import-xmp": 0}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.usage = "\n" + __doc__.split("\n\n", 1)[1].rstrip() if __doc__ else None
    parser.add_argument("words", nargs="+", metavar="[ACTION] FOLDER [VALUES]",
                        help=f"FOLDER alone lists the people; ACTION is one of "
                        f"{', '.join(ACTIONS)}")
    add_library_arguments(parser, folder=False)
    parser.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    words = list(args.words)
    action = words.pop(0) if words[0] in ACTIONS and len(words) > 1 else "list"
    if not words:
        raise LookalikeError("Give the photo folder: see `lookalike people --help`.")
    args.folder = Path(words.pop(0))
    if len(words) != ACTIONS.get(action, 0):
        raise LookalikeError(f"`lookalike people {action}` takes {ACTIONS.get(action, 0)} "
                             f"value(s) after the folder: see `lookalike people --help`.")
    values = words
    write = action not in ("list", "faces", "export-xmp")
    with open_library(args, create=False, lock=write) as library, library.catalog.faults():
        store = library.people
        if action == "list":
            return _list(store, args.json)
        if action == "faces":
            return _faces(store, _number(values[0]), args.json)
        if action == "export-xmp":
            return _export(library.catalog)
        if action == "import-xmp":
            taken = run_with_bars(import_face_regions(library.catalog), quiet=True)
            print(f"Took {taken} named face regions; {len(store.names())} named people.")
            return 0
        if action == "name":
            person = store.name(_number(values[0]), values[1])
            print(f"Person {person} is now {store.person(person).title}.")
        elif action == "merge":
            store.merge(_number(values[0]), _number(values[1]))
            print(f"Merged person {values[0]} into {store.person(_number(values[1])).title}.")
        elif action == "move":
            target = _number(values[1]) or None
            store.move_face(_number(values[0]), target)
            where = store.person(target).title if target else "no person"
            print(f"Face {values[0]} moved to {where}; it will not go back.")
        else:
            store.not_a_face(_number(values[0]))
            print(f"Face {values[0]} is not a face; it will not be grouped again.")
    return 0


def _list(store: FaceStore, as_json: bool) -> int:
    catalog = store.catalog
    alone = store.loose_faces()
    people = []
    for person in store.persons():
        photos = catalog.photos(store.photo_ids(person.id))
        people.append({"id": person.id, "name": person.name, "faces": person.faces,
                       "photos": person.photos, "paths": [display(p.path) for p in photos]})
    if as_json:
        print(json.dumps({"folder": display(catalog.root), "people": people,
                          "faces_in_no_person": alone},
                         ensure_ascii=False, indent=2))
        return 0
    if not people and not alone:
        print("No people yet: run `lookalike faces FOLDER` first.")
    for entry in people:
        title = entry["name"] or "(unnamed)"
        print(f"{entry['id']:>5}  {title}  {entry['faces']} faces in {entry['photos']} photos")
    if alone:
        print(f"{alone} faces are in no person yet (each seen once so far).")
    return 0


def _faces(store: FaceStore, person_id: int, as_json: bool) -> int:
    store.person(person_id)
    rows = []
    for face in store.faces(person_id=person_id):
        paths = [display(p.path) for p in store.catalog.photos(
            store.catalog.ids_by_hash([face.content_hash]).get(face.content_hash, []))]
        rows.append({"face": face.id, "box": [round(v, 4) for v in (face.x, face.y, face.w,
                                                                     face.h)],
                     "confirmed": face.confirmed, "paths": paths})
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    for row in rows:
        print(f"{row['face']:>6}  {' '.join(row['paths'])}  box {row['box']}")
    return 0


def _export(catalog: Catalog) -> int:
    result = run_with_bars(write_face_regions(catalog), quiet=True)
    print(f"Face regions written to {result.written} sidecars.")
    for path, reason in result.failed:
        print(f"  not written: {display(path)}: {reason}")
    return 1 if result.failed else 0


def _number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise LookalikeError(f"{text!r} is not a number: give the id that "
                             "`lookalike people FOLDER` shows.") from None

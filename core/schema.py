"""The catalog's SQL schema as numbered migrations.

``PRAGMA user_version`` holds the version a catalog is at; :func:`core.catalog.Catalog.open`
applies every migration above it, in order, in one transaction. Never edit a released
migration: add a new number. Features own their own numbers (1: photos, embeddings,
problems; 2: labels and heads; 3: maps; 4+: next).
"""

from __future__ import annotations

MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE photos (
        id           INTEGER PRIMARY KEY,
        path         BLOB NOT NULL UNIQUE,     -- relative to the library root, os.fsencode()
        size         INTEGER NOT NULL,
        mtime_ns     INTEGER NOT NULL,
        content_hash TEXT,                     -- NULL until the file has been read
        width        INTEGER,
        height       INTEGER,
        captured_at  TEXT,                     -- ISO 8601, from EXIF
        camera       TEXT,
        added_at     REAL NOT NULL
    );
    CREATE INDEX photos_content_hash ON photos(content_hash);
    CREATE TABLE embeddings (
        photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
        model    TEXT NOT NULL,                -- model key, e.g. "resnet50@IMAGENET1K_V2"
        vector   BLOB NOT NULL,                -- float16, L2-normalised
        PRIMARY KEY (photo_id, model)
    ) WITHOUT ROWID;
    CREATE INDEX embeddings_model ON embeddings(model);
    CREATE TABLE problems (
        path     BLOB PRIMARY KEY,             -- relative to the library root
        size     INTEGER,
        mtime_ns INTEGER,
        reason   TEXT NOT NULL,
        seen_at  REAL NOT NULL
    );
    """,
}


def latest_version() -> int:
    """The schema version this build of Lookalike writes."""
    return max(MIGRATIONS)

"""The catalog's SQL schema as numbered migrations.

``PRAGMA user_version`` holds the version a catalog is at; :func:`core.catalog.Catalog.open`
applies every migration above it, in order, in one transaction. Never edit a released
migration: add a new number. Features own their own numbers (1: photos, embeddings,
problems; 2: labels and heads; 3: maps; 4+: next).
"""

from __future__ import annotations

# Folder order (core.browse): the folder (the path up to its last "/"), then the file name with
# ASCII letters folded, then the path. As SQL expressions of ``path`` so that an index on them
# (migration 21) lists a million photos in that order without sorting. A trailing "/" must not
# stay on the folder: "a b" sorts before "a" + "/" would, but "a" < "a b" by folder.
_DIR_SLASH = "rtrim(path, replace(path, '/', ''))"
_DIR_BYTES = f"length(CAST({_DIR_SLASH} AS BLOB))"
FOLDER_ORDER: tuple[str, str, str] = (
    f"substr(CAST({_DIR_SLASH} AS BLOB), 1, {_DIR_BYTES} - 1)",
    f"lower(substr(path, {_DIR_BYTES} + 1))",
    "path",
)

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
    2: """
    -- Labels are keyed by the photo's content hash, not its id: they survive re-scans, moves,
    -- a file that leaves the library and comes back, and duplicates share them. A photo is
    -- labelled once it has been read (it gets its hash when it is embedded).
    CREATE TABLE label_sets (
        id         INTEGER PRIMARY KEY,
        name       TEXT NOT NULL UNIQUE,
        multi      INTEGER NOT NULL DEFAULT 0,  -- 0: single-choice (softmax), 1: multi-label
        revision   INTEGER NOT NULL DEFAULT 0,  -- bumped whenever its labels or assignments change
        created_at REAL NOT NULL
    );
    CREATE TABLE labels (
        id       INTEGER PRIMARY KEY,
        set_id   INTEGER NOT NULL REFERENCES label_sets(id) ON DELETE CASCADE,
        name     TEXT NOT NULL,
        position INTEGER NOT NULL,
        UNIQUE (set_id, name)
    );
    CREATE TABLE assignments (
        label_id     INTEGER NOT NULL REFERENCES labels(id) ON DELETE CASCADE,
        content_hash TEXT NOT NULL,
        positive     INTEGER NOT NULL,          -- 1: has the label, 0: "not this label"
        source       TEXT NOT NULL,             -- "user" or "accepted prediction"
        created_at   REAL NOT NULL,
        PRIMARY KEY (label_id, content_hash)
    ) WITHOUT ROWID;
    CREATE INDEX assignments_hash ON assignments(content_hash);
    CREATE TABLE heads (
        set_id       INTEGER NOT NULL REFERENCES label_sets(id) ON DELETE CASCADE,
        model        TEXT NOT NULL,             -- the embedding model key it was trained on
        version      INTEGER NOT NULL,
        architecture TEXT NOT NULL,             -- JSON: kind, dims, hidden units, label ids
        state        BLOB NOT NULL,             -- torch state_dict (torch.save bytes)
        metrics      TEXT NOT NULL,             -- JSON: validation figures
        revision     INTEGER NOT NULL,          -- the label set's revision it was trained on
        trained_at   REAL NOT NULL,
        PRIMARY KEY (set_id, model)
    );
    CREATE TABLE predictions (
        set_id       INTEGER NOT NULL REFERENCES label_sets(id) ON DELETE CASCADE,
        model        TEXT NOT NULL,
        photo_id     INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
        head_version INTEGER NOT NULL,
        label_id     INTEGER NOT NULL,          -- the top label
        confidence   REAL NOT NULL,             -- its probability
        margin       REAL NOT NULL,             -- certainty: 0 = unsure, 1 = sure
        probs        BLOB NOT NULL,             -- float32, one per label in the head's order
        PRIMARY KEY (set_id, model, photo_id)
    ) WITHOUT ROWID;
    CREATE INDEX predictions_photo ON predictions(photo_id);
    """,
    3: """
    -- The cluster map of each model: 2-D points, their clusters, and what made them.
    -- Written in one transaction, so a killed computation leaves the previous map whole.
    CREATE TABLE maps (
        model      TEXT PRIMARY KEY,          -- the embedding model key
        generation INTEGER NOT NULL,          -- the catalog generation of the model it shows
        method     TEXT NOT NULL,             -- "umap" (or "pca" for a handful of photos)
        params     TEXT NOT NULL,             -- JSON: n_neighbors, min_dist, metric, pca_dims, seed
        fit_token  TEXT NOT NULL,             -- names the fitted model saved beside the catalog
        fitted_at  REAL NOT NULL,             -- when UMAP was last fitted from scratch
        updated_at REAL NOT NULL              -- when points were last placed (fit or transform)
    );
    CREATE TABLE map_points (
        photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
        model    TEXT NOT NULL REFERENCES maps(model) ON DELETE CASCADE,
        x        REAL NOT NULL,
        y        REAL NOT NULL,
        cluster  INTEGER NOT NULL,            -- cluster number (0 = largest), -1 = in none
        digest   INTEGER NOT NULL,            -- crc32 of the embedding the point was placed from
        PRIMARY KEY (photo_id, model)
    ) WITHOUT ROWID;
    CREATE INDEX map_points_model ON map_points(model);
    CREATE TABLE map_clusters (
        model           TEXT NOT NULL REFERENCES maps(model) ON DELETE CASCADE,
        cluster         INTEGER NOT NULL,
        size            INTEGER NOT NULL,
        x               REAL NOT NULL,        -- centre
        y               REAL NOT NULL,
        representatives TEXT NOT NULL,        -- JSON list of photo ids, nearest the centre first
        PRIMARY KEY (model, cluster)
    ) WITHOUT ROWID;
    """,
    4: """
    -- Keywords: each photo's top ImageNet classes from a model with real weights, found in the
    -- same forward pass as its embedding. Keyed by content hash (like labels): they survive
    -- re-scans and moves, and duplicates share them. Everyday words are derived from the
    -- classes (core/keywords/imagenet_words.json), not stored.
    CREATE TABLE keywords (
        content_hash TEXT NOT NULL,
        model        TEXT NOT NULL,             -- the model key whose classifier named them
        class        INTEGER NOT NULL,          -- ImageNet-1k class index
        probability  REAL NOT NULL,
        PRIMARY KEY (content_hash, model, class)
    ) WITHOUT ROWID;
    CREATE INDEX keywords_class ON keywords(model, class);
    """,
    5: """
    -- Region descriptors (issue 16): each photo's regions (an R-MAC-style grid of squares on
    -- the last feature map, core.regions), from the pass that embeds it, keyed like its
    -- embedding (a move keeps them, a changed file is embedded again).
    CREATE TABLE regions (
        photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
        model    TEXT NOT NULL,                -- the embedding model key
        boxes    BLOB NOT NULL,                -- float16 (R, 4): x, y, w, h on the upright photo
        vectors  BLOB NOT NULL,                -- float16 (R, dim): whitened PCA codes
        PRIMARY KEY (photo_id, model)
    ) WITHOUT ROWID;
    CREATE INDEX regions_model ON regions(model);
    -- The whitened PCA that reduces a model's raw region descriptors, learned on the library.
    CREATE TABLE region_reductions (
        model      TEXT PRIMARY KEY,
        mean       BLOB NOT NULL,              -- float32 (channels,)
        axes       BLOB NOT NULL,              -- float32 (dim, channels)
        scales     BLOB NOT NULL,              -- float32 (dim,)
        photos     INTEGER NOT NULL,           -- photos it was learned on
        fitted_at  REAL NOT NULL
    );
    """,
    7: """
    -- Duplicate culling: a pick or reject per photo, keyed by content hash (it survives
    -- re-scans and moves), with the key of the group it was decided in (core.duplicates.store).
    CREATE TABLE duplicate_decisions (
        content_hash TEXT PRIMARY KEY,
        decision     TEXT NOT NULL CHECK (decision IN ('pick', 'reject')),
        group_key    TEXT NOT NULL,
        source       TEXT NOT NULL,             -- "user" or "auto" (an accepted proposal)
        decided_at   REAL NOT NULL
    ) WITHOUT ROWID;
    """,
    6: """
    -- Similarity judgements: "OTHER is (not) similar to QUERY", keyed by content hash like
    -- labels, so they survive moves, renames, re-scans and re-embedding with another model.
    CREATE TABLE judgements (
        query_hash TEXT NOT NULL,
        other_hash TEXT NOT NULL,
        similar    INTEGER NOT NULL,          -- 1: similar, 0: not similar
        source     TEXT NOT NULL,             -- "user", "search feedback", ...
        created_at REAL NOT NULL,
        PRIMARY KEY (query_hash, other_hash)
    ) WITHOUT ROWID;
    CREATE INDEX judgements_other ON judgements(other_hash);
    -- Learnt similarities ("my similarity"): a projection of one model's embeddings, trained
    -- on the judgements (and labels). The projected vectors live in the embeddings table
    -- under the key in `projected` once the library has been projected.
    CREATE TABLE similarities (
        name         TEXT NOT NULL,
        model        TEXT NOT NULL,           -- the embedding model key it projects
        version      INTEGER NOT NULL,
        architecture TEXT NOT NULL,           -- JSON: kind, loss, dims
        state        BLOB NOT NULL,           -- torch state_dict (torch.save bytes)
        metrics      TEXT NOT NULL,           -- JSON: held-out ordering before/after, ...
        revision     TEXT NOT NULL,           -- the judgements/labels revision trained on
        trained_at   REAL NOT NULL,
        projected    TEXT,                    -- embeddings key of the projected library
        PRIMARY KEY (name, model)
    );
    """,
    8: """
    -- Faces (issue 19). Keyed by the photo's content hash, like labels: they survive moves,
    -- renames and re-scans. face_scans records every photo the faces pass has looked at
    -- (also those with no face), so a killed pass resumes where it stopped.
    CREATE TABLE face_scans (
        content_hash TEXT PRIMARY KEY,
        faces        INTEGER NOT NULL,         -- faces found, or -1: the file could not be read
        reason       TEXT,                     -- why not, in plain words
        detector     TEXT NOT NULL,
        scanned_at   REAL NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE persons (
        id         INTEGER PRIMARY KEY,
        name       TEXT UNIQUE,                -- NULL until the user names the person
        created_at REAL NOT NULL
    );
    CREATE TABLE faces (
        id           INTEGER PRIMARY KEY,
        content_hash TEXT NOT NULL,
        x            REAL NOT NULL,            -- box relative to the upright photo (after EXIF
        y            REAL NOT NULL,            -- orientation), top-left corner and size, 0..1
        w            REAL NOT NULL,
        h            REAL NOT NULL,
        score        REAL NOT NULL,            -- detector score (1.0 for an imported region)
        descriptor   BLOB,                     -- float32 x 128, NULL for an imported region
        thumbnail    BLOB,                     -- small square JPEG
        person_id    INTEGER REFERENCES persons(id) ON DELETE SET NULL,
        confirmed    INTEGER NOT NULL DEFAULT 0,  -- 1: put there by the user: grouping keeps it
        not_face     INTEGER NOT NULL DEFAULT 0,  -- 1: the user said "not a face"
        source       TEXT NOT NULL DEFAULT 'detector'  -- or 'xmp' (imported MWG region)
    );
    CREATE INDEX faces_hash ON faces(content_hash);
    CREATE INDEX faces_person ON faces(person_id);
    -- "This face is not that person": grouping never puts it back there.
    CREATE TABLE face_rejections (
        face_id   INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
        person_id INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
        PRIMARY KEY (face_id, person_id)
    ) WITHOUT ROWID;
    """,
    9: """
    -- Video clips (issue 22). A clip is a row of photos (content hash: a moved clip keeps its
    -- row, frames and labels). The table clips holds what only clips have.
    CREATE TABLE clips (
        photo_id INTEGER PRIMARY KEY REFERENCES photos(id) ON DELETE CASCADE,
        duration REAL NOT NULL,               -- seconds, from the decoded frames
        codec    TEXT NOT NULL
    );
    -- One row per kept frame (one per scene) and model. Its id, negated, is its search id.
    CREATE TABLE frames (
        id        INTEGER PRIMARY KEY,
        photo_id  INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
        model     TEXT NOT NULL,
        time      REAL NOT NULL,              -- seconds from the start of the clip
        signature BLOB NOT NULL,              -- float16: colour histogram + grey layout
        vector    BLOB NOT NULL,              -- float16, L2-normalised
        UNIQUE (photo_id, model, time)
    );
    CREATE INDEX frames_model ON frames(model);
    -- How far an interrupted embedding pass got inside a clip (deleted when it is complete).
    CREATE TABLE clip_progress (
        photo_id   INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
        model      TEXT NOT NULL,
        decoded_to REAL NOT NULL,
        PRIMARY KEY (photo_id, model)
    ) WITHOUT ROWID;
    """,
    # Issue 20 (a million photos): the grid's date order and the folder panel's counts read
    # these instead of sorting or grouping every photo (at 1M: 1.8 s and 1.6 s of CPU each
    # without them). The expressions are those of core.browse's queries, word for word.
    12: """
    CREATE INDEX photos_by_date ON photos(captured_at IS NULL, captured_at, path, id);
    CREATE INDEX photos_folder ON photos(CAST(rtrim(path, replace(path, '/', '')) AS BLOB));
    """,
    15: """
    -- The map's points of video clips (issue 22): one per kept frame (so a clip of a beach
    -- sits with the beach photos), tied to its frame, hence to its clip and time.
    CREATE TABLE map_frame_points (
        frame_id INTEGER NOT NULL REFERENCES frames(id) ON DELETE CASCADE,
        model    TEXT NOT NULL REFERENCES maps(model) ON DELETE CASCADE,
        x        REAL NOT NULL,
        y        REAL NOT NULL,
        cluster  INTEGER NOT NULL,
        digest   INTEGER NOT NULL,            -- crc32 of the frame's embedding
        PRIMARY KEY (frame_id, model)
    ) WITHOUT ROWID;
    CREATE INDEX map_frame_points_model ON map_frame_points(model);
    """,
    16: """
    -- Raw region descriptors waiting for their model's reduction to be learned (issue 16):
    -- written with the embedding in the batch's transaction, so a stopped pass redoes
    -- nothing. They become regions (and are deleted) once enough photos wait (core.regions).
    CREATE TABLE region_pending (
        photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
        model    TEXT NOT NULL,
        boxes    BLOB NOT NULL,                -- float16 (R, 4), as in regions
        raw      BLOB NOT NULL,                -- float16 (R, channels): pooled feature map
        PRIMARY KEY (photo_id, model)
    ) WITHOUT ROWID;
    """,
    20: """
    -- A set's predictions as blocks of rows (issue 20): at a million photos a row per photo
    -- took 7 s to insert and 5 s to delete. Each block holds consecutive photos in id order:
    -- their ids (int64) and per-label probabilities (float32, the head's label order).
    -- Rows of the older per-photo table `predictions` are still read where no block exists.
    CREATE TABLE prediction_blocks (
        set_id       INTEGER NOT NULL REFERENCES label_sets(id) ON DELETE CASCADE,
        model        TEXT NOT NULL,
        block        INTEGER NOT NULL,          -- 0, 1, ...: in photo id order
        head_version INTEGER NOT NULL,
        photo_ids    BLOB NOT NULL,             -- int64
        probs        BLOB NOT NULL,             -- float32 (photos, labels)
        PRIMARY KEY (set_id, model, block)
    ) WITHOUT ROWID;
    """,
    21: f"""
    -- Folder order without sorting (issue 20: a million photos listed in < 1 s).
    CREATE INDEX photos_folder_order ON photos({", ".join(FOLDER_ORDER)});
    """,
}


def latest_version() -> int:
    """The schema version this build of Lookalike writes."""
    return max(MIGRATIONS)

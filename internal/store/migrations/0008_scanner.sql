-- Built-in vulnerability scanner (internal/scanner, internal/vulndb).

-- Imported vulnerability records, one row per advisory id. record is the
-- advisory as internal/vulndb encodes it (an OSV-shaped JSON document).
-- An import replaces a row only when the incoming record is newer
-- (modified) or, at the same modification time, different (content_hash).
CREATE TABLE vulnerabilities (
    id {{CTEXT}} PRIMARY KEY,
    source TEXT NOT NULL,
    modified BIGINT NOT NULL,
    content_hash TEXT NOT NULL,
    withdrawn BIGINT,
    record {{BYTES}} NOT NULL,
    imported_at BIGINT NOT NULL
);

-- The (ecosystem, name) pairs under which a record is looked up.
CREATE TABLE vulnerability_packages (
    vulnerability_id TEXT NOT NULL REFERENCES vulnerabilities (id) ON DELETE CASCADE,
    ecosystem TEXT NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (ecosystem, name, vulnerability_id)
);
CREATE INDEX vulnerability_packages_vulnerability ON vulnerability_packages (vulnerability_id);

-- Index results per layer blob, shared by every image that has the layer.
-- content holds what the layer does to the filesystem (files that shadow
-- lower layers, whiteouts, os-release); packages are rows.
CREATE TABLE scan_layers (
    digest TEXT PRIMARY KEY,
    indexer_version INTEGER NOT NULL,
    content {{BYTES}} NOT NULL,
    indexed_at BIGINT NOT NULL
);

CREATE TABLE scan_layer_packages (
    id {{ID}},
    layer_digest TEXT NOT NULL REFERENCES scan_layers (digest) ON DELETE CASCADE,
    type TEXT NOT NULL,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    source_name TEXT NOT NULL DEFAULT '',
    source_version TEXT NOT NULL DEFAULT '',
    path TEXT NOT NULL
);
CREATE INDEX scan_layer_packages_layer ON scan_layer_packages (layer_digest);
CREATE INDEX scan_layer_packages_name ON scan_layer_packages (type, name);
CREATE INDEX scan_layer_packages_source ON scan_layer_packages (type, source_name);

-- Scan status and report per manifest digest (the same digest has the same
-- layers in every repository). repository is where it was last queued, so
-- a restarted server can finish queued scans. report is the JSON of
-- core.SecurityReport once scanned.
CREATE TABLE manifest_scans (
    digest {{CTEXT}} PRIMARY KEY,
    repository TEXT NOT NULL,
    status TEXT NOT NULL,
    error TEXT NOT NULL DEFAULT '',
    report {{BYTES}},
    updated_at BIGINT NOT NULL
);
CREATE INDEX manifest_scans_status ON manifest_scans (status);

-- The layers of each scanned manifest, bottom first, so a data import can
-- find the manifests whose packages it concerns and match them again
-- without reading any blob.
CREATE TABLE manifest_scan_layers (
    manifest_digest TEXT NOT NULL REFERENCES manifest_scans (digest) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    layer_digest TEXT NOT NULL,
    PRIMARY KEY (manifest_digest, position)
);
CREATE INDEX manifest_scan_layers_layer ON manifest_scan_layers (layer_digest);

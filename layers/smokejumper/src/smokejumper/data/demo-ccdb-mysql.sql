-- A small database shaped like Cloud Foundry's ccdb on MySQL (pxc-release), for `smokejumper demo`.
-- One statement per block; blocks end with a line holding only `;`.
CREATE TABLE organizations (
    id INT AUTO_INCREMENT PRIMARY KEY,
    guid CHAR(36) NOT NULL UNIQUE,
    name VARCHAR(255) NOT NULL UNIQUE,
    created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE=InnoDB
;
CREATE TABLE spaces (
    id INT AUTO_INCREMENT PRIMARY KEY,
    guid CHAR(36) NOT NULL UNIQUE,
    organization_id INT NOT NULL,
    name VARCHAR(255) NOT NULL,
    UNIQUE KEY (organization_id, name),
    CONSTRAINT spaces_org FOREIGN KEY (organization_id) REFERENCES organizations (id) ON DELETE CASCADE
) ENGINE=InnoDB
;
CREATE TABLE apps (
    id BIGINT AUTO_INCREMENT PRIMARY KEY,
    guid CHAR(36) NOT NULL UNIQUE,
    space_id INT NOT NULL,
    name VARCHAR(255) NOT NULL,
    state ENUM('STOPPED', 'STARTED') NOT NULL DEFAULT 'STOPPED',
    environment JSON NOT NULL,
    droplet VARBINARY(16),
    updated_at DATETIME(6),
    KEY apps_space_state (space_id, state),
    CONSTRAINT apps_space FOREIGN KEY (space_id) REFERENCES spaces (id)
) ENGINE=InnoDB
;
CREATE VIEW started_apps AS SELECT a.guid, a.name, s.name AS space FROM apps a JOIN spaces s ON s.id = a.space_id
    WHERE a.state = 'STARTED'
;
INSERT INTO organizations (guid, name) SELECT UUID(), CONCAT('org-', seq) FROM seq_1_to_20
;
INSERT INTO spaces (guid, organization_id, name) SELECT UUID(), 1 + seq % 20, CONCAT('space-', seq) FROM seq_1_to_200
;
INSERT INTO apps (guid, space_id, name, state, environment, droplet, updated_at)
    SELECT UUID(), 1 + seq % 200, CONCAT('app-', seq), IF(seq % 3 = 0, 'STOPPED', 'STARTED'),
           JSON_OBJECT('LOG_LEVEL', 'info', 'INDEX', seq, 'NOTE', 'tab\there, quote '' and é'),
           UNHEX(MD5(seq)), '2026-11-01 00:00:00' + INTERVAL seq MINUTE
    FROM seq_1_to_5000
;

-- What tpctl reports to the Tenant Plane of its upgrades and rollbacks, and of the backups it
-- keeps (its history lives on the host that runs it, which a container cannot read): the
-- Settings → Upgrades & backups page, and the banner every page shows while a run goes on.
-- They are the audit trail of who upgraded or rolled back, and when. A row is the run tpctl
-- names by its log's time stamp; tpctl sends its recent history with each run, so a run it
-- could not report (a Tenant Plane down, a restore to a backup from before) is told later.

CREATE TABLE operations (
  id text PRIMARY KEY,
  kind text NOT NULL CHECK (kind IN ('upgrade', 'rollback')),
  from_version text NOT NULL,
  to_version text NOT NULL,
  state text NOT NULL CHECK (state IN ('running', 'succeeded', 'failed', 'rolled-back', 'needs-human', 'refused', 'interrupted')),
  step text,
  step_what text,
  step_started_at timestamptz,
  actor text NOT NULL,
  summary text,
  figures jsonb NOT NULL DEFAULT '{}',
  log text NOT NULL,
  started_at timestamptz NOT NULL,
  finished_at timestamptz,
  reported_by uuid REFERENCES users (id) ON DELETE SET NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX operations_started_at_idx ON operations (started_at DESC);

CREATE TABLE backups (
  name text PRIMARY KEY,
  version text NOT NULL,
  taken_at timestamptz NOT NULL,
  size_bytes bigint NOT NULL,
  reason text NOT NULL,
  signed boolean NOT NULL,
  verified_at timestamptz,
  reported_at timestamptz NOT NULL DEFAULT now()
);

#!/usr/bin/env bash
# test/demo.sh: the main job on sample callbacks.
#
#   bash test/demo.sh          # as root on a fresh Debian 12 or 13: installs, builds, runs
#
# Sets up a throwaway cluster (test/env.sh), creates the database
# idenfy_demo with the extension, loads the sample callbacks of
# test/fixtures with idenfy-load, and shows what the database made of them.
# The cluster keeps running afterwards so that you can look around; the
# last lines say how to connect and how to stop it.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
setup_all

psql -X -q -d postgres -c "DROP DATABASE IF EXISTS idenfy_demo" -c "CREATE DATABASE idenfy_demo"
psql -X -q -d idenfy_demo -c "CREATE EXTENSION idenfy"

say "loading the sample callbacks (test/fixtures) with idenfy-load"
bash "$ROOT/test/fixtures/samples.ndjson.sh" | "$ROOT/src/load/idenfy-load" -d idenfy_demo --quiet

say "what the database made of them"
psql -X -d idenfy_demo <<'SQL'
\pset footer off
SELECT v.scan_ref, v.client_id, v.final, v.overall, v.decision,
       array_to_string(v.decision_reasons, ' ') AS reasons
  FROM idenfy.verification v ORDER BY v.client_id, v.scan_ref;
SELECT c.scan_ref, c.event_type, c.outcome FROM idenfy.callback c ORDER BY c.id;
SQL
cat <<EOT

The cluster is still running. Look around with:
  PGHOST=$PGHOST PGPORT=$PGPORT psql -U postgres idenfy_demo
Stop it with:
  su postgres -c "$PGBIN/pg_ctl -D $RUN/data stop"
EOT

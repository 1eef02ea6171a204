#!/usr/bin/env bash
# listener: a real client (python3-psycopg) receives the NOTIFY of a decision
# change committed by another session, and none for duplicate or stale ones.
source "$(dirname "$0")/lib.bash"
fresh_db idenfy_listener || { notok "create database"; finish; exit 1; }
python3 "$(dirname "$0")/listener.py" idenfy_listener
rc=$?
q -d postgres -c "DROP DATABASE idenfy_listener"
exit $rc

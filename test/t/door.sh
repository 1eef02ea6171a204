#!/usr/bin/env bash
# door: every entry point that takes the raw request body, given the bodies
# a receiver really meets (trailing comma, truncated, empty, invalid UTF-8,
# 100 MB, an unquoted marker value): a specific SQLSTATE with a correct
# position, the bytes kept exactly in quarantine, and no marker anywhere
# (error, quarantine error columns, server log).  Then concurrent batches
# sharing scanRefs: no deadlock, the state of sequential delivery.
source "$(dirname "$0")/lib.bash"
log=${IDENFY_SERVER_LOG:-$(dirname "$(q -d postgres -c "SELECT current_setting('data_directory')")")/server.log}
fresh_db idenfy_door || { notok "create database"; finish; exit 1; }
fresh_db idenfy_door_seq || { notok "create database"; finish; exit 1; }
python3 "$(dirname "$0")/door.py" idenfy_door idenfy_door_seq "$log"
rc=$?
q -d postgres -c "DROP DATABASE idenfy_door" -c "DROP DATABASE idenfy_door_seq"
exit $rc

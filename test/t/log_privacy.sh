#!/usr/bin/env bash
# log_privacy: errors, warnings and notices of the extension name fields,
# never their values: bad and quarantined callbacks full of marker values
# leave none of them in the server log.
source "$(dirname "$0")/lib.bash"
log=${IDENFY_SERVER_LOG:-$(dirname "$(q -d postgres -c "SELECT current_setting('data_directory')")")/server.log}
fresh_db idenfy_log || { notok "create database"; finish; exit 1; }
python3 "$(dirname "$0")/log_privacy.py" idenfy_log "$log"
rc=$?
q -d postgres -c "DROP DATABASE idenfy_log"
exit $rc

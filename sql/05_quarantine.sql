-- 05_quarantine: with idenfy.on_invalid = 'quarantine' an invalid callback is kept with its error, never lost.
\i test/helpers.sql

SET idenfy.on_invalid = 'quarantine';
SELECT scan_ref, outcome, decision, callback_id FROM idenfy_ingest(
  jsonb_set(t.fx('approved'), '{data,docNationality}', '"Lithuania"'), 'IDENTIFICATION_AUTO_FINISHED');
SELECT scan_ref, outcome FROM idenfy_ingest('[1]');
SELECT scan_ref, outcome FROM idenfy_ingest(NULL);
SELECT scan_ref, outcome FROM idenfy_ingest(jsonb_build_object('scanRef', repeat('x', 50)));
-- a valid callback is ingested as usual
SELECT outcome FROM idenfy_ingest(t.fx('approved'));

SELECT scan_ref, event_type_raw, reason, sqlstate, json_path, message, detail, payload IS NOT NULL AS has_payload
  FROM idenfy.quarantine ORDER BY id;
-- the quarantined payload is kept verbatim
SELECT payload = jsonb_set(t.fx('approved'), '{data,docNationality}', '"Lithuania"') AS verbatim
  FROM idenfy.quarantine WHERE reason = 'invalid' ORDER BY id LIMIT 1;
-- and nothing else was written for the invalid ones
SELECT count(*) AS verifications, (SELECT count(*) FROM idenfy.callback) AS history
  FROM idenfy.verification;

-- back to errors
RESET idenfy.on_invalid;
SELECT t.try('[1]');
-- the setting only takes its two values
SET idenfy.on_invalid = 'ignore';

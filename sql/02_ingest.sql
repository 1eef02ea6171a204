-- 02_ingest: valid callbacks are normalized into the tables; history keeps every distinct one.
\i test/helpers.sql

-- the reference page's example: created, then duplicate
SELECT scan_ref, outcome, decision FROM idenfy_ingest(t.fx('reference-example'));
SELECT scan_ref, outcome, decision FROM idenfy_ingest(t.fx('reference-example'));
-- the same with final set to false, delivered after it: stale
SELECT scan_ref, outcome, decision
  FROM idenfy_ingest(jsonb_set(t.fx('reference-example'), '{final}', 'false'));

-- the verification row of the reference example
SELECT scan_ref, client_id, final, has_manual, platform, overall, auto_face, manual_face,
       auto_document, manual_document, additional_step_status, fraud_tags, mismatch_tags,
       suspicion_reasons, deny_reasons, start_time, finish_time, client_ip, client_ip_country,
       client_location, risk_score, risk_level, additional_steps, unknown_values, decision
  FROM idenfy.verification ORDER BY scan_ref;

-- its document data, dates kept raw and parsed
SELECT doc_type, doc_sex, doc_nationality, doc_expiry_raw, doc_expiry, doc_dob_raw, doc_dob,
       doc_date_of_issue, age_estimate, ip_proxy_risk, additional_data
  FROM idenfy.document ORDER BY scan_ref;

-- file URLs with the expiry of each pre-signed link
SELECT source, name, expires_at FROM idenfy.file_url ORDER BY scan_ref, source, name;

-- AML results
SELECT list, ord, service_name, service_group_type, overall_status, service_suspected,
       service_used, service_found, check_successful, jsonb_array_length(data) AS hits
  FROM idenfy.service_result ORDER BY scan_ref, list, ord;

-- history: one row per distinct payload, the stale one included
SELECT outcome, final, has_manual FROM idenfy.callback ORDER BY id;

-- the published community fixture: scanRef "scan-ref", dates the literal text "YYYY-MM-DD"
SELECT scan_ref, outcome, decision FROM idenfy_ingest(t.fx('community'));
SELECT doc_expiry_raw, doc_expiry, doc_dob_raw, doc_dob, doc_date_of_issue
  FROM idenfy.document WHERE scan_ref = 'scan-ref';
SELECT list, service_name FROM idenfy.service_result WHERE scan_ref = 'scan-ref' ORDER BY list;
-- its URLs carry "Expires=<STAMP>": no expiry
SELECT name, expires_at FROM idenfy.file_url WHERE scan_ref = 'scan-ref' ORDER BY name;

-- approved, denied (face mismatch), suspected with tags
SELECT scan_ref, outcome, decision FROM idenfy_ingest(t.fx('approved'), 'IDENTIFICATION_AUTO_FINISHED');
SELECT scan_ref, outcome, decision FROM idenfy_ingest(t.fx('denied-face-mismatch'));
SELECT scan_ref, outcome, decision FROM idenfy_ingest(t.fx('suspected-tags'));
SELECT overall, fraud_tags, mismatch_tags, peps_status, aml_result_class, risk_score, risk_level,
       decision_reasons
  FROM idenfy.verification WHERE scan_ref = t.fx('suspected-tags')->>'scanRef';
SELECT list, overall_status, service_suspected, jsonb_array_length(data) AS hits
  FROM idenfy.service_result WHERE scan_ref = t.fx('suspected-tags')->>'scanRef' ORDER BY list, ord;

-- expired session with mostly-null data
SELECT scan_ref, outcome, decision FROM idenfy_ingest(t.fx('expired-null-data'), 'IDENTIFICATION_EXPIRED');
SELECT final, overall, auto_face, start_time, client_ip, decision
  FROM idenfy.verification WHERE scan_ref = t.fx('expired-null-data')->>'scanRef';
SELECT count(*) AS file_urls FROM idenfy.file_url WHERE scan_ref = t.fx('expired-null-data')->>'scanRef';

-- a cancelled session (the event type header says so, in the dashboard's spelling)
SELECT scan_ref, outcome, decision FROM idenfy_ingest(t.fx('cancelled'), 'VERIFICATION CANCELED');
SELECT cancelled, event_type, decision, decision_reasons
  FROM idenfy.verification WHERE scan_ref = t.fx('cancelled')->>'scanRef';

-- unknown vendor values: stored, kept verbatim, marked for review
SELECT scan_ref, outcome, decision FROM idenfy_ingest(t.fx('unknown-enum'));
SELECT platform, fraud_tags, unknown_values, decision, decision_reasons
  FROM idenfy.verification WHERE scan_ref = t.fx('unknown-enum')->>'scanRef';
SELECT doc_type FROM idenfy.document WHERE scan_ref = t.fx('unknown-enum')->>'scanRef';

-- DOCUMENT_EXPIRATION: stored against its scanRef, recognised by header or by shape
SELECT scan_ref, outcome, decision FROM idenfy_ingest(t.fx('document-expiration'), 'DOCUMENT_EXPIRATION');
SELECT scan_ref, outcome FROM idenfy_ingest(t.fx('document-expiration'));
SELECT scan_ref, outcome FROM idenfy_ingest(
  jsonb_set(t.fx('document-expiration'), '{expirationThreshold}', '"DOCUMENT_EXPIRED"'));
SELECT threshold_raw, threshold, client_id, document_expiration_raw, document_expiration
  FROM idenfy.document_expiration ORDER BY scan_ref, threshold_raw;
-- an expiration notice for a scanRef never delivered, with a threshold we do not know
SELECT scan_ref, outcome, decision FROM idenfy_ingest(
  '{"scanRef": "never-seen-1", "clientId": "c-9", "expirationThreshold": "DOCUMENT_EXPIRES_WITHIN_90_DAYS", "documentExpiration": "2031-01-01"}');
SELECT threshold_raw, threshold FROM idenfy.document_expiration WHERE scan_ref = 'never-seen-1';
SELECT count(*) AS verifications FROM idenfy.verification WHERE scan_ref = 'never-seen-1';

-- duplicate faces: links to other scanRefs, delivered here or not
SELECT outcome FROM idenfy_ingest(t.fx('duplicate-faces-a'));
SELECT outcome FROM idenfy_ingest(t.fx('duplicate-faces-b'));
SELECT scan_ref, kind, other_scan_ref FROM idenfy.face_link ORDER BY scan_ref, kind, other_scan_ref;

-- riskAssessment in both spellings
SELECT risk_score, risk_level FROM idenfy.verification
 WHERE scan_ref IN (t.fx('reference-example')->>'scanRef', t.fx('suspected-tags')->>'scanRef')
 ORDER BY scan_ref;

-- manualAddress inside data (some payloads) lands in the same column
SELECT outcome FROM idenfy_ingest(
  jsonb_set(jsonb_set(t.fx('approved'), '{scanRef}', '"alias-1"'),
            '{data,manualAddress}', '"MARKERADDR99 SOMEWHERE"'));
SELECT manual_address FROM idenfy.document WHERE scan_ref = 'alias-1';

-- an IPv6 client address, an epoch given as 1.0e9, a null "final" on an expired session
SELECT outcome FROM idenfy_ingest(
  '{"scanRef": "misc-1", "final": null, "clientIp": "2001:db8::7", "startTime": 1.0e9, "status": {"overall": "EXPIRED"}}',
  'ID_VERIFICATION_EXPIRED');
SELECT final, client_ip, start_time, decision FROM idenfy.verification WHERE scan_ref = 'misc-1';

-- the history keeps the raw payload and the event type as given
SELECT scan_ref, event_type, event_type_raw, outcome, payload = t.fx('cancelled') AS same_payload
  FROM idenfy.callback WHERE scan_ref = t.fx('cancelled')->>'scanRef' ORDER BY id;

SELECT t.counts();

-- a new verification's document and first history row go in without a statement (tables.c, direct
-- inserts) into tables as the extension made them, else by the INSERT statement: a trigger a DBA
-- adds fires, and both ways store the same rows (every fixture, under two scanRef prefixes)
CREATE TABLE t.fired (tbl text, scan_ref text);
CREATE FUNCTION t.note() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO t.fired VALUES (TG_TABLE_NAME, NEW.scan_ref); RETURN NEW; END $$;
CREATE TRIGGER t_note AFTER INSERT ON idenfy.document FOR EACH ROW EXECUTE FUNCTION t.note();
CREATE TRIGGER t_note AFTER INSERT ON idenfy.callback FOR EACH ROW EXECUTE FUNCTION t.note();
SELECT r.outcome, count(*) AS by_statement FROM t.fixture f,
  LATERAL idenfy_ingest(jsonb_set(f.body, '{scanRef}', to_jsonb('stmt-' || f.name))) r
 GROUP BY 1 ORDER BY 1;
SELECT tbl, count(*) AS fired FROM t.fired GROUP BY 1 ORDER BY 1;
DROP TRIGGER t_note ON idenfy.document;
DROP TRIGGER t_note ON idenfy.callback;
SELECT r.outcome, count(*) AS directly FROM t.fixture f,
  LATERAL idenfy_ingest(jsonb_set(f.body, '{scanRef}', to_jsonb('direct-' || f.name))) r
 GROUP BY 1 ORDER BY 1;
SELECT count(*) AS fired_without_trigger FROM t.fired WHERE scan_ref LIKE 'direct-%';
WITH s AS (SELECT substr(scan_ref, 6) AS k, to_jsonb(d) - 'scan_ref' AS r
             FROM idenfy.document d WHERE scan_ref LIKE 'stmt-%'),
     x AS (SELECT substr(scan_ref, 8) AS k, to_jsonb(d) - 'scan_ref' AS r
             FROM idenfy.document d WHERE scan_ref LIKE 'direct-%')
SELECT (SELECT count(*) FROM s) AS documents, (SELECT count(*) FROM x) AS documents_direct,
       (SELECT count(*) FROM s FULL JOIN x USING (k) WHERE s.r IS DISTINCT FROM x.r) AS differ;
WITH s AS (SELECT substr(scan_ref, 6) AS k, jsonb_build_array(event_type, event_type_raw, final,
                  has_manual, outcome, payload - 'scanRef', length(payload_sha256)) AS r
             FROM idenfy.callback WHERE scan_ref LIKE 'stmt-%'),
     x AS (SELECT substr(scan_ref, 8) AS k, jsonb_build_array(event_type, event_type_raw, final,
                  has_manual, outcome, payload - 'scanRef', length(payload_sha256)) AS r
             FROM idenfy.callback WHERE scan_ref LIKE 'direct-%')
SELECT (SELECT count(*) FROM s) AS history, (SELECT count(*) FROM x) AS history_direct,
       (SELECT count(*) FROM s FULL JOIN x USING (k) WHERE s.r IS DISTINCT FROM x.r) AS differ;
-- the direct history row's arrival time is the transaction's, as the statement's now() gives
BEGIN;
SELECT outcome FROM idenfy_ingest(jsonb_set(t.fx('approved'), '{scanRef}', '"direct-now"'));
SELECT received_at = now() AS arrived_now, length(payload_sha256) AS sha_bytes
  FROM idenfy.callback WHERE scan_ref = 'direct-now';
COMMIT;
DROP TABLE t.fired;
DROP FUNCTION t.note();

-- idenfy_ingest_many: idenfy_ingest of each element, in order, in one call.  Every fixture twice
-- (the second delivery a duplicate), then the same calls one by one under other scanRefs: the same
-- outcomes, decisions and stored rows.
SELECT m.ord, f.name, m.outcome, m.decision, m.scan_ref = 'many-' || f.name AS same_scan_ref
  FROM (SELECT array_agg(jsonb_set(body, '{scanRef}', to_jsonb('many-' || name)) ORDER BY name) AS p,
               array_agg(name ORDER BY name) AS names FROM t.fixture) a,
       LATERAL idenfy_ingest_many(a.p || a.p) m
  JOIN LATERAL (SELECT a.names[(m.ord - 1) % cardinality(a.names) + 1] AS name) f ON true
 ORDER BY m.ord;
SELECT count(*) AS one_by_one FROM (SELECT name, body FROM t.fixture ORDER BY name) f,
  LATERAL idenfy_ingest(jsonb_set(f.body, '{scanRef}', to_jsonb('single-' || f.name))) r;
WITH s AS (SELECT substr(v.scan_ref, 8) AS k,
                  to_jsonb(v) - '{scan_ref,first_received_at,updated_at,callback_id}'::text[] AS r
             FROM idenfy.verification v WHERE scan_ref LIKE 'single-%'),
     m AS (SELECT substr(v.scan_ref, 6) AS k,
                  to_jsonb(v) - '{scan_ref,first_received_at,updated_at,callback_id}'::text[] AS r
             FROM idenfy.verification v WHERE scan_ref LIKE 'many-%')
SELECT (SELECT count(*) FROM m) AS verifications,
       (SELECT count(*) FROM s FULL JOIN m USING (k) WHERE s.r IS DISTINCT FROM m.r) AS differ;
SELECT count(*) FILTER (WHERE scan_ref LIKE 'many-%') AS history_many,
       count(*) FILTER (WHERE scan_ref LIKE 'single-%') AS history_single
  FROM idenfy.callback;
-- event types one per payload, NULL elements; an invalid callback quarantined in place
SET idenfy.on_invalid = 'quarantine';
SELECT ord, scan_ref, outcome, decision, callback_id IS NOT NULL AS has_history_row
  FROM idenfy_ingest_many(ARRAY['{"scanRef": "many-x", "final": false}', NULL,
    '{"scanRef": "many-x", "clientIp": "no-ip"}', '{"scanRef": "many-x", "final": true}']::jsonb[],
  ARRAY['IDENTIFICATION_AUTO_FINISHED', NULL, NULL, 'IDENTIFICATION_MANUAL_FINISHED']);
RESET idenfy.on_invalid;
SELECT event_type, outcome FROM idenfy.callback WHERE scan_ref = 'many-x' ORDER BY id;
-- the whole call fails with its first invalid callback when idenfy.on_invalid = 'error'
SELECT t.counts() AS before_many \gset
SELECT * FROM idenfy_ingest_many(ARRAY['{"scanRef": "many-y"}', '{"scanRef": 7}']::jsonb[]);
SELECT t.counts() = :'before_many' AS nothing_written;
-- wrong shapes
SELECT * FROM idenfy_ingest_many(ARRAY['{"scanRef": "many-z"}']::jsonb[], ARRAY['A', 'B']);
SELECT * FROM idenfy_ingest_many(ARRAY[['{"scanRef": "many-z"}']]::jsonb[]);
SELECT count(*) AS no_rows FROM idenfy_ingest_many(NULL);
SELECT count(*) AS no_rows FROM idenfy_ingest_many('{}');

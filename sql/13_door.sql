-- 13_door: the raw body entry point (idenfy_ingest_body): every fixture as sent, vendor shapes of other years, and every malformed body a clear error with its position, or quarantined byte for byte.
\i test/helpers.sql
\pset null '(null)'
\set VERBOSITY default
\set b_fraction `cat test/fixtures/fractional-epoch.json`
\set b_trailing `cat test/fixtures/trailing-comma.json`

-- t.try_body(body, event_type): the outcome, or the error's SQLSTATE, message and detail
CREATE FUNCTION t.try_body(b bytea, e text DEFAULT NULL) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	r record;
	st text; msg text; det text;
BEGIN
	SELECT * INTO r FROM idenfy_ingest_body(b, e);
	RETURN r.outcome::text || coalesce(' ' || r.scan_ref, ' scan_ref NULL');
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
	RETURN st || ': ' || msg || coalesce(' | ' || nullif(det, ''), '');
END $$;

-- every fixture through the raw body (bytea), in the demo's delivery order: the same outcomes as idenfy_ingest
SELECT f.name, r.outcome, r.decision
  FROM (VALUES (1, 'reference-example', 'IDENTIFICATION_AUTO_FINISHED'), (2, 'approved', 'IDENTIFICATION_AUTO_FINISHED'),
               (3, 'denied-face-mismatch', 'IDENTIFICATION_AUTO_FINISHED'), (4, 'nonfinal-auto', 'IDENTIFICATION_AUTO_FINISHED'),
               (5, 'suspected-tags', 'IDENTIFICATION_AUTO_FINISHED'), (6, 'final-manual', 'IDENTIFICATION_MANUAL_FINISHED'),
               (7, 'expired-null-data', 'IDENTIFICATION_EXPIRED'), (8, 'cancelled', 'IDENTIFICATION_CANCELLED'),
               (9, 'unknown-enum', 'IDENTIFICATION_AUTO_FINISHED'), (10, 'document-expiration', 'DOCUMENT_EXPIRATION'),
               (11, 'rereview-manual', 'IDENTIFICATION_MANUAL_FINISHED'),
               (12, 'resubmitted-nonfinal', 'IDENTIFICATION_RESUBMITTED')) AS f(n, name, ev),
       LATERAL idenfy_ingest_body(convert_to(t.fx(f.name)::text, 'UTF8'), f.ev) r
 ORDER BY f.n;
-- the stored payload is the same jsonb: idenfy_ingest of each calls it a duplicate
SELECT count(*) FILTER (WHERE r.outcome = 'duplicate') AS duplicates, count(*) AS fixtures
  FROM t.fixture f, LATERAL idenfy_ingest(f.body) r
 WHERE f.name NOT IN ('community', 'duplicate-faces-a', 'duplicate-faces-b', 'nonfinal-auto', 'final-manual',
                      'rereview-manual', 'resubmitted-nonfinal');
-- the text form, white space and key order as sent
SELECT scan_ref, outcome, decision FROM idenfy_ingest_body(pg_catalog.convert_from(convert_to(t.fx('duplicate-faces-a')::text, 'UTF8'), 'UTF8'));

-- fractional epoch seconds (the vendor's format until April 2019): kept to the microsecond
SELECT scan_ref, outcome, decision FROM idenfy_ingest_body(:'b_fraction', 'IDENTIFICATION_AUTO_FINISHED');
SELECT start_time = to_timestamp(1554726960.324056) AS start_exact, finish_time = to_timestamp(1554727031.5) AS finish_exact,
       extract(microseconds FROM start_time)::int % 1000000 AS start_micros
  FROM idenfy.verification WHERE scan_ref = '7c1e5a90-2f3b-4d6e-8a1c-9b0d2e3f4a13';
-- the five vendor values of 1.6.0 are known: created with their decision, nothing unknown
SELECT v AS value, r.outcome, r.decision
  FROM unnest(ARRAY['LA_WALLET', 'SAMSUNG_WALLET', 'MOJE_ID_CZ', 'SOCIAL_SECURITY_CARD']) v,
       LATERAL idenfy_ingest_body(jsonb_set(jsonb_set(t.fx('approved'), '{scanRef}', to_jsonb('d-' || v)),
                                            '{data,docType}', to_jsonb(v))::text) r
 ORDER BY 1;
SELECT r.outcome, r.decision
  FROM idenfy_ingest_body(jsonb_set(jsonb_set(t.fx('approved'), '{scanRef}', '"d-not-reviewed"'),
                                    '{status,overall}', '"NOT_REVIEWED"')::text) r;
SELECT v.scan_ref, v.overall, d.doc_type, v.decision, v.decision_reasons, v.unknown_values
  FROM idenfy.verification v JOIN idenfy.document d USING (scan_ref)
 WHERE v.scan_ref LIKE 'd-%' ORDER BY 1;
-- every unknown value is named in the reasons, in jsonb key order
SELECT decision_reasons FROM idenfy.verification WHERE scan_ref = t.fx('unknown-enum')->>'scanRef';

SELECT t.counts() AS before \gset
-- malformed bodies: SQLSTATE, message, and the position (line, byte of the line, byte of the body), never a value
SET idenfy.max_body_size = '8kB';
SELECT c AS "case", t.try_body(b) AS result FROM (VALUES
  ('empty', ''::bytea),
  ('white space', convert_to(E' \n\t ', 'UTF8')),
  ('truncated after a key', convert_to('{"scanRef": "m-1", "final"', 'UTF8')),
  ('truncated in a string', convert_to('{"scanRef": "m-', 'UTF8')),
  ('only an opening brace', convert_to('{', 'UTF8')),
  ('trailing comma (vendor docs of 2020)', convert_to(:'b_trailing', 'UTF8')),
  ('unquoted value with a marker', convert_to('{"scanRef": "m-1", "data": {"docFirstName": MARKERFIRST99}}', 'UTF8')),
  ('single quotes', convert_to('{''scanRef'': ''m-1''}', 'UTF8')),
  ('two objects', convert_to('{"scanRef": "m-1"} {"scanRef": "m-2"}', 'UTF8')),
  ('invalid UTF-8 in a value', '\x7b227363616e526566223a20226d2dff227d'::bytea),
  ('NUL byte', '\x7b2273223a00207d'::bytea),
  ('escaped NUL', convert_to('{"scanRef": "m-1", "x": "a\u0000"}', 'UTF8')),
  ('lone high surrogate', convert_to('{"scanRef": "m-1", "x": "\ud800"}', 'UTF8')),
  ('lone low surrogate', convert_to('{"scanRef": "m-1", "x": "\udc00x"}', 'UTF8')),
  ('bad escape', convert_to('{"scanRef": "m-1", "x": "\q"}', 'UTF8')),
  ('control character in a string', convert_to(E'{"scanRef": "m-1", "x": "a\tb"}', 'UTF8')),
  ('nested 65 deep', convert_to('{"scanRef": "m-1", "x": ' || repeat('[', 64) || repeat(']', 64) || '}', 'UTF8')),
  ('nested 64 deep', convert_to('{"scanRef": "m-nest", "x": ' || repeat('[', 63) || repeat(']', 63) || '}', 'UTF8')),
  ('number 1e100000', convert_to('{"scanRef": "m-1", "riskAssessment": {"riskScore": 1e100000}}', 'UTF8')),
  ('number 1e-100000', convert_to('{"scanRef": "m-1", "x": 1e-100000}', 'UTF8')),
  ('number of 1001 digits', convert_to('{"scanRef": "m-1", "x": ' || repeat('9', 1001) || '}', 'UTF8')),
  ('number of 1000 digits', convert_to('{"scanRef": "m-big", "x": ' || repeat('9', 1000) || '}', 'UTF8')),
  ('over idenfy.max_body_size', convert_to('{"scanRef": "m-1", "x": "' || repeat('a', 8192) || '"}', 'UTF8')),
  ('second line', convert_to(E'{"scanRef": "m-1",\n  "final": tru}', 'UTF8')),
  ('not an object', convert_to('[1, 2]', 'UTF8')),
  ('valid, no scanRef', convert_to('{"final": true}', 'UTF8'))
) AS x(c, b) ORDER BY 1;
RESET idenfy.max_body_size;
-- the text form: the same checks (a text cannot hold invalid UTF-8)
SELECT * FROM idenfy_ingest_body('', NULL);
SELECT * FROM idenfy_ingest_body(E'{"scanRef": "m-1",\n "final": true,\n}'::text);
SELECT * FROM idenfy_ingest_body(NULL::bytea);
-- nothing written but the two valid bodies (m-nest, m-big)
SELECT (SELECT count(*) FROM idenfy.verification WHERE scan_ref IN ('m-nest', 'm-big')) AS valid_ones;

-- quarantine: every malformed body kept byte for byte, with its error; the answer has no scanRef
SET idenfy.on_invalid = 'quarantine';
CREATE TABLE t.bad (c text, b bytea);
INSERT INTO t.bad VALUES
  ('empty', ''::bytea),
  ('truncated', convert_to('{"scanRef": "m-1", "final"', 'UTF8')),
  ('trailing comma', convert_to(:'b_trailing', 'UTF8')),
  ('invalid UTF-8', '\x7b227363616e526566223a20226d2dff227d'::bytea),
  ('escaped NUL', convert_to('{"scanRef": "m-1", "x": "a\u0000"}', 'UTF8')),
  ('nested', convert_to('{"x": ' || repeat('[', 100) || repeat(']', 100) || '}', 'UTF8')),
  ('big number', convert_to('{"x": 1e100000}', 'UTF8'));
SELECT b.c, r.scan_ref, r.outcome, r.decision, r.callback_id FROM t.bad b, LATERAL idenfy_ingest_body(b.b) r ORDER BY 1;
SELECT b.c, q.reason, q.sqlstate, q.json_path, q.scan_ref, q.payload IS NULL AS no_payload, q.body = b.b AS same_bytes
  FROM t.bad b JOIN idenfy.quarantine q ON q.body = b.b ORDER BY 1;
SELECT count(*) AS quarantined, count(*) FILTER (WHERE scan_ref = '') AS without_scan_ref FROM idenfy.quarantine;
-- a valid body that breaks the contract is quarantined as jsonb, with its scanRef
SELECT scan_ref, outcome FROM idenfy_ingest_body('{"scanRef": "m-q", "final": "yes"}');
SELECT scan_ref, json_path, payload IS NOT NULL AS has_payload, body IS NULL AS no_body FROM idenfy.quarantine WHERE scan_ref = 'm-q';
RESET idenfy.on_invalid;

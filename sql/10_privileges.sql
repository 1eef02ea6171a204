-- 10_privileges: the README's role recipe: a webhook role that can only ingest signed callbacks, a loader role for the unsigned ones, an analyst role that reads views; a hostile search_path changes nothing.
\i test/helpers.sql
SELECT idenfy_signing_key_add('current', 'TestingKey');
-- the test's own helpers are open to everyone
GRANT USAGE ON SCHEMA t TO PUBLIC;
GRANT SELECT ON t.fixture TO PUBLIC;

-- the recipe (README: Privileges): the webhook role may only ingest signed callbacks and read decisions;
-- the unsigned entry points belong to a trusted loader role
CREATE ROLE idenfy_test_webhook;
CREATE ROLE idenfy_test_loader;
CREATE ROLE idenfy_test_analyst;
GRANT EXECUTE ON FUNCTION idenfy_ingest_signed(bytea, text, text), idenfy_ingest_signed(text, text, text),
  idenfy_decision(text)
  TO idenfy_test_webhook;
GRANT EXECUTE ON FUNCTION idenfy_ingest(jsonb, text), idenfy_ingest_body(bytea, text),
  idenfy_ingest_body(text, text), idenfy_ingest_routed(text, jsonb, text), idenfy_ingest_many(jsonb[], text[])
  TO idenfy_test_loader;
GRANT USAGE ON SCHEMA idenfy TO idenfy_test_analyst;
GRANT SELECT ON idenfy.verifications, idenfy.callbacks, idenfy.quarantine_counts TO idenfy_test_analyst;
GRANT EXECUTE ON FUNCTION idenfy_effective_decision(text), idenfy_decision(text),
  idenfy_duplicate_faces(text), idenfy_face_groups(), idenfy_document_expired(text, date),
  idenfy_expired_documents(date, boolean), idenfy_expiring_documents(interval, date, boolean),
  idenfy.mask(text, boolean), idenfy.reader_sees_personal_data()
  TO idenfy_test_analyst;

-- the loader role ingests through the unsigned entry points; it may not read decisions, so its answers carry none
SET ROLE idenfy_test_loader;
SELECT scan_ref, outcome, decision FROM idenfy_ingest(t.fx('approved'), 'IDENTIFICATION_AUTO_FINISHED');
SELECT ord, scan_ref, outcome FROM idenfy_ingest_many(ARRAY['{"scanRef": "w-m1", "final": false}']::jsonb[]);
SELECT scan_ref, outcome, decision FROM idenfy_ingest_body('{"scanRef": "w-b1", "final": false}');
-- a crafted callback of a stored scanRef does not reveal its decision
SELECT scan_ref, outcome, decision FROM idenfy_ingest(jsonb_build_object('scanRef', t.fx('approved')->>'scanRef', 'final', false));
SELECT idenfy_decision('w-b1');
RESET ROLE;
SELECT encode(t.hmac('{"scanRef": "w-1", "final": true}', 'TestingKey', 'sha256'), 'hex') AS sig \gset
-- the webhook role ingests signed callbacks and reads the decision with its reasons ...
SET ROLE idenfy_test_webhook;
SELECT scan_ref, outcome, decision FROM idenfy_ingest_signed('{"scanRef": "w-1", "final": true}'::text, :'sig');
SELECT scan_ref, outcome FROM idenfy_ingest_signed('{"scanRef": "w-2", "final": true}'::text, :'sig');
SELECT decision, reasons, final FROM idenfy_decision('w-1');
-- ... cannot ingest unsigned callbacks (that would let it overwrite any decision) ...
SELECT * FROM idenfy_ingest(t.fx('approved'), 'IDENTIFICATION_RESUBMITTED');
SELECT * FROM idenfy_ingest_body('{"scanRef": "w-3", "final": true}');
SELECT * FROM idenfy_ingest_routed('w-3', '{"scanRef": "w-3", "final": true}');
SELECT * FROM idenfy_ingest_many(ARRAY['{"scanRef": "w-3", "final": true}']::jsonb[]);
-- ... and nothing else
SELECT count(*) FROM idenfy.verification;
SELECT count(*) FROM idenfy.callback;
SELECT * FROM idenfy.signing_key;
UPDATE idenfy.verification SET decision = 'APPROVED';
DELETE FROM idenfy.callback;
SELECT count(*) FROM idenfy.verifications;
SELECT idenfy_signing_key_add('mine', 'x');
SELECT idenfy_effective_decision('w-1');
RESET ROLE;

-- the analyst role reads the analyst views and asks the query functions ...
SET ROLE idenfy_test_analyst;
SELECT scan_ref, decision, doc_type FROM idenfy.verifications ORDER BY scan_ref;
SELECT scan_ref, outcome FROM idenfy.callbacks ORDER BY id;
SELECT idenfy_effective_decision('w-1');
SELECT count(*) FROM idenfy_expired_documents('2040-01-01');
SELECT reason, sqlstate FROM idenfy.quarantine_counts ORDER BY 1, 2;
-- ... but not the payloads, the personal data, the keys or the quarantine, and cannot ingest
SELECT payload FROM idenfy.callback;
SELECT doc_first_name FROM idenfy.document;
SELECT * FROM idenfy.signing_key;
SELECT * FROM idenfy.quarantine;
SELECT * FROM idenfy_ingest('{"scanRef": "a-1"}');
SELECT * FROM idenfy_ingest_many(ARRAY['{"scanRef": "a-1"}']::jsonb[]);
RESET ROLE;

-- a hostile search_path: a user's own "=" operator and now() in a schema placed before pg_catalog
CREATE SCHEMA evil;
CREATE FUNCTION evil.always(text, text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.always);
CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE sql AS $$ SELECT 'epoch'::timestamptz $$;
GRANT USAGE ON SCHEMA evil TO PUBLIC;
SELECT t.fx('denied-face-mismatch') AS denied, t.fx('suspected-tags') AS suspected \gset
SET search_path = evil, pg_catalog, public, t;
SELECT 'a' = 'b' AS evil_equals, now() = 'epoch' AS evil_now;
-- ingest, duplicate detection, query functions: unchanged
SELECT scan_ref, outcome, decision FROM idenfy_ingest(:'denied');
SELECT scan_ref, outcome, decision FROM idenfy_ingest(:'denied');
SELECT scan_ref, outcome, decision FROM idenfy_ingest(:'suspected');
SELECT idenfy_effective_decision('w-1') AS w1, idenfy_effective_decision('no-such-scan') AS none;
SELECT count(*) AS links FROM idenfy_duplicate_faces('w-1');
SELECT count(*) FILTER (WHERE received_at OPERATOR(pg_catalog.=) 'epoch') AS evil_timestamps
  FROM idenfy.callback;
INSERT INTO idenfy.tag_policy VALUES ('NAME', 'APPROVED'), ('DOC_MOBILE_PHOTO', 'APPROVED');
SELECT scan_ref, decision, decision_reasons FROM idenfy.verification ORDER BY scan_ref;
RESET search_path;
DROP SCHEMA evil CASCADE;

-- SECURITY DEFINER functions pin their search_path
SELECT p.oid::regprocedure AS definer_without_search_path
  FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'idenfy')
   AND p.prosecdef AND NOT coalesce(p.proconfig::text LIKE '%search_path=pg_catalog, pg_temp%', false)
 ORDER BY 1;

-- PUBLIC can execute nothing of the extension
SELECT p.oid::regprocedure AS public_can_execute
  FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass AND d.deptype = 'e'
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'idenfy')
   AND has_function_privilege('public', p.oid, 'EXECUTE')
 ORDER BY 1::text;

DROP OWNED BY idenfy_test_webhook, idenfy_test_loader, idenfy_test_analyst;
DROP ROLE idenfy_test_webhook;
DROP ROLE idenfy_test_loader;
DROP ROLE idenfy_test_analyst;

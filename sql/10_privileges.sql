-- 10_privileges: the README's role recipe: a webhook role that can only ingest, an analyst role that reads views; a hostile search_path changes nothing.
\i test/helpers.sql
SELECT idenfy_signing_key_add('current', 'TestingKey');
-- the test's own helpers are open to everyone
GRANT USAGE ON SCHEMA t TO PUBLIC;
GRANT SELECT ON t.fixture TO PUBLIC;

-- the recipe (README: Privileges)
CREATE ROLE idenfy_test_webhook;
CREATE ROLE idenfy_test_analyst;
GRANT EXECUTE ON FUNCTION idenfy_ingest(jsonb, text), idenfy_ingest_routed(text, jsonb, text),
  idenfy_ingest_signed(bytea, text, text), idenfy_ingest_signed(text, text, text),
  idenfy_ingest_many(jsonb[], text[])
  TO idenfy_test_webhook;
GRANT USAGE ON SCHEMA idenfy TO idenfy_test_analyst;
GRANT SELECT ON idenfy.verifications, idenfy.callbacks TO idenfy_test_analyst;
GRANT EXECUTE ON FUNCTION idenfy_effective_decision(text), idenfy_decision(text),
  idenfy_duplicate_faces(text), idenfy_face_groups(), idenfy_document_expired(text, date),
  idenfy_expired_documents(date, boolean), idenfy_expiring_documents(interval, date, boolean)
  TO idenfy_test_analyst;

-- the webhook role ingests, plain and signed ...
SET ROLE idenfy_test_webhook;
SELECT scan_ref, outcome, decision FROM idenfy_ingest(t.fx('approved'), 'IDENTIFICATION_AUTO_FINISHED');
SELECT ord, scan_ref, outcome FROM idenfy_ingest_many(ARRAY['{"scanRef": "w-m1", "final": false}']::jsonb[]);
RESET ROLE;
SELECT encode(t.hmac('{"scanRef": "w-1", "final": true}', 'TestingKey', 'sha256'), 'hex') AS sig \gset
SET ROLE idenfy_test_webhook;
SELECT scan_ref, outcome FROM idenfy_ingest_signed('{"scanRef": "w-1", "final": true}'::text, :'sig');
SELECT scan_ref, outcome FROM idenfy_ingest_signed('{"scanRef": "w-2", "final": true}'::text, :'sig');
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

DROP OWNED BY idenfy_test_webhook, idenfy_test_analyst;
DROP ROLE idenfy_test_webhook;
DROP ROLE idenfy_test_analyst;

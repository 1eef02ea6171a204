-- test/helpers.sql: shared set-up of the regression tests (included with \i).
-- Loads the fixture callbacks of test/fixtures into t.fixture and defines
-- small helpers.  psql runs from the project folder.
\set ECHO none
\set QUIET on
SET client_min_messages = warning;
CREATE SCHEMA IF NOT EXISTS t;
CREATE EXTENSION IF NOT EXISTS pgcrypto SCHEMA t;
DROP TABLE IF EXISTS t.fixture;
CREATE TABLE t.fixture (name text PRIMARY KEY, body jsonb NOT NULL);
\set f_community `cat test/fixtures/community-fixture-nonfinal-approved.json`
INSERT INTO t.fixture VALUES ('community', :'f_community');
\set f_approved `cat test/fixtures/approved.json`
INSERT INTO t.fixture VALUES ('approved', :'f_approved');
\set f_cancelled `cat test/fixtures/cancelled.json`
INSERT INTO t.fixture VALUES ('cancelled', :'f_cancelled');
\set f_denied_face_mismatch `cat test/fixtures/denied-face-mismatch.json`
INSERT INTO t.fixture VALUES ('denied-face-mismatch', :'f_denied_face_mismatch');
\set f_document_expiration `cat test/fixtures/document-expiration.json`
INSERT INTO t.fixture VALUES ('document-expiration', :'f_document_expiration');
\set f_duplicate_faces_a `cat test/fixtures/duplicate-faces-a.json`
INSERT INTO t.fixture VALUES ('duplicate-faces-a', :'f_duplicate_faces_a');
\set f_duplicate_faces_b `cat test/fixtures/duplicate-faces-b.json`
INSERT INTO t.fixture VALUES ('duplicate-faces-b', :'f_duplicate_faces_b');
\set f_expired_null_data `cat test/fixtures/expired-null-data.json`
INSERT INTO t.fixture VALUES ('expired-null-data', :'f_expired_null_data');
\set f_final_manual `cat test/fixtures/final-manual.json`
INSERT INTO t.fixture VALUES ('final-manual', :'f_final_manual');
\set f_nonfinal_auto `cat test/fixtures/nonfinal-auto.json`
INSERT INTO t.fixture VALUES ('nonfinal-auto', :'f_nonfinal_auto');
\set f_reference_example `cat test/fixtures/reference-example.json`
INSERT INTO t.fixture VALUES ('reference-example', :'f_reference_example');
\set f_rereview_manual `cat test/fixtures/rereview-manual.json`
INSERT INTO t.fixture VALUES ('rereview-manual', :'f_rereview_manual');
\set f_resubmitted_nonfinal `cat test/fixtures/resubmitted-nonfinal.json`
INSERT INTO t.fixture VALUES ('resubmitted-nonfinal', :'f_resubmitted_nonfinal');
\set f_suspected_tags `cat test/fixtures/suspected-tags.json`
INSERT INTO t.fixture VALUES ('suspected-tags', :'f_suspected_tags');
\set f_unknown_enum `cat test/fixtures/unknown-enum.json`
INSERT INTO t.fixture VALUES ('unknown-enum', :'f_unknown_enum');

-- t.fx(name): a fixture's body
CREATE OR REPLACE FUNCTION t.fx(n text) RETURNS jsonb
LANGUAGE sql STABLE AS $$ SELECT body FROM t.fixture WHERE name = n $$;

-- t.try(payload, event_type): the outcome, or the error's SQLSTATE, message and detail
CREATE OR REPLACE FUNCTION t.try(p jsonb, e text DEFAULT NULL) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	r record;
	st text; msg text; det text;
BEGIN
	SELECT * INTO r FROM idenfy_ingest(p, e);
	RETURN r.outcome::text;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
	RETURN st || ': ' || msg || coalesce(' | ' || nullif(det, ''), '');
END $$;

-- t.counts(): rows in every table of the extension
CREATE OR REPLACE FUNCTION t.counts() RETURNS text
LANGUAGE sql AS $$
SELECT string_agg(format('%s=%s', c.relname,
         (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM idenfy.%I', c.relname), false, true, '')))[1]::text),
       ' ' ORDER BY c.relname)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'idenfy' AND (c.relkind = 'r' OR c.relname IN ('file_url', 'service_result'))
$$;

-- t.reset(): empty every table of the extension
CREATE OR REPLACE FUNCTION t.reset() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	TRUNCATE idenfy.verification, idenfy.document, idenfy.face_link,
		idenfy.document_expiration, idenfy.callback,
		idenfy.quarantine, idenfy.tag_policy, idenfy.signing_key, idenfy.erasure;
END $$;
SELECT t.reset();
RESET client_min_messages;
\set QUIET off
\set ECHO all

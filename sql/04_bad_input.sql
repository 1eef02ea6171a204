-- 04_bad_input: every bad-input class is an ERROR with its own SQLSTATE, the JSON path, and nothing written.
\i test/helpers.sql
SELECT outcome FROM idenfy_ingest(t.fx('approved'));
SELECT t.counts() AS before \gset

-- the full shape of an error: message, detail, hint
\set VERBOSITY default
SELECT * FROM idenfy_ingest(jsonb_set(t.fx('approved'), '{data,docFirstName}', '42'));
SELECT * FROM idenfy_ingest(NULL);

-- one case per line: SQLSTATE, message, detail
SELECT c AS "case", t.try(p) AS result FROM (VALUES
  -- not an object
  ('array', '[1, 2]'::jsonb),
  ('scalar', '"scan-ref"'),
  ('number', '42'),
  -- scanRef
  ('scanRef missing', '{"final": true}'),
  ('scanRef empty', '{"scanRef": ""}'),
  ('scanRef null', '{"scanRef": null}'),
  ('scanRef number', '{"scanRef": 12}'),
  ('scanRef 41 chars', jsonb_build_object('scanRef', repeat('x', 41))),
  -- wrong JSON types
  ('final string', '{"scanRef": "b-1", "final": "true"}'),
  ('status array', '{"scanRef": "b-1", "status": []}'),
  ('data string', '{"scanRef": "b-1", "data": "x"}'),
  ('overall number', '{"scanRef": "b-1", "status": {"overall": 1}}'),
  ('fraudTags object', '{"scanRef": "b-1", "status": {"fraudTags": {}}}'),
  ('fraudTags element', '{"scanRef": "b-1", "status": {"fraudTags": ["X", 7]}}'),
  ('duplicateFaces string', '{"scanRef": "b-1", "data": {"duplicateFaces": "a"}}'),
  ('duplicateFaces empty element', '{"scanRef": "b-1", "data": {"duplicateFaces": [""]}}'),
  ('fileUrls array', '{"scanRef": "b-1", "fileUrls": ["x"]}'),
  ('fileUrls value', '{"scanRef": "b-1", "fileUrls": {"FACE": 3}}'),
  ('fileUrls name 101 chars, null value', jsonb_build_object('scanRef', 'b-1', 'fileUrls', jsonb_build_object(repeat('F', 101), NULL))),
  ('fileUrls name 10000 chars', jsonb_build_object('scanRef', 'b-1', 'fileUrls', jsonb_build_object(repeat('F', 10000), 'https://x'))),
  ('fileUrls name with control characters', jsonb_build_object('scanRef', 'b-1', 'fileUrls', jsonb_build_object(E'FA\nCE"\\' || chr(1), 3))),
  ('fileUrls name 100 chars quoted in part', jsonb_build_object('scanRef', 'b-1', 'fileUrls', jsonb_build_object(repeat('G', 100), 3))),
  ('AML object', '{"scanRef": "b-1", "AML": {}}'),
  ('AML element', '{"scanRef": "b-1", "AML": [1]}'),
  ('AML status flag', '{"scanRef": "b-1", "AML": [{"status": {"serviceUsed": "yes"}}]}'),
  ('riskAssessment score', '{"scanRef": "b-1", "riskAssessment": {"riskScore": "38"}}'),
  ('additionalSteps string', '{"scanRef": "b-1", "additionalSteps": "UTILITY_BILL"}'),
  ('manuallyDataChanged number', '{"scanRef": "b-1", "data": {"manuallyDataChanged": 0}}'),
  -- documented maximum lengths (the larger where the vendor's pages disagree)
  ('docFirstName 101', jsonb_build_object('scanRef', 'b-1', 'data', jsonb_build_object('docFirstName', repeat('é', 101)))),
  ('docPersonalCode 31', jsonb_build_object('scanRef', 'b-1', 'data', jsonb_build_object('docPersonalCode', repeat('1', 31)))),
  ('platform 31', jsonb_build_object('scanRef', 'b-1', 'platform', repeat('P', 31))),
  ('clientId 101', jsonb_build_object('scanRef', 'b-1', 'clientId', repeat('c', 101))),
  ('externalRef 41', jsonb_build_object('scanRef', 'b-1', 'externalRef', repeat('e', 41))),
  ('fullName 202', jsonb_build_object('scanRef', 'b-1', 'data', jsonb_build_object('fullName', repeat('n', 202)))),
  ('orgBirthPlace 501', jsonb_build_object('scanRef', 'b-1', 'data', jsonb_build_object('orgBirthPlace', repeat('b', 501)))),
  -- country codes
  ('country lower case', '{"scanRef": "b-1", "clientIpCountry": "lt"}'),
  ('country alpha-3', '{"scanRef": "b-1", "data": {"docNationality": "LTU"}}'),
  ('country unassigned', '{"scanRef": "b-1", "data": {"selectedCountry": "QQ"}}'),
  ('country number', '{"scanRef": "b-1", "data": {"docIssuingCountry": 44}}'),
  -- IP addresses
  ('ip v4 out of range', '{"scanRef": "b-1", "clientIp": "256.1.1.1"}'),
  ('ip text', '{"scanRef": "b-1", "clientIp": "localhost"}'),
  ('ip with port', '{"scanRef": "b-1", "clientIp": "192.0.2.1:80"}'),
  ('ip empty', '{"scanRef": "b-1", "clientIp": ""}'),
  -- epoch timestamps
  ('startTime string', '{"scanRef": "b-1", "startTime": "1700736224"}'),
  ('startTime negative', '{"scanRef": "b-1", "startTime": -1}'),
  ('startTime fraction negative', '{"scanRef": "b-1", "startTime": -1700736224.5}'),
  ('startTime fraction huge', '{"scanRef": "b-1", "startTime": 253402300799.9999995}'),
  ('finishTime year 10000', '{"scanRef": "b-1", "finishTime": 253402300800}'),
  ('finishTime huge', '{"scanRef": "b-1", "finishTime": 1e300}'),
  -- a DOCUMENT_EXPIRATION body with a wrong threshold type
  ('expiration threshold number', '{"scanRef": "b-1", "expirationThreshold": 30}'),
  ('documentExpiration object', '{"scanRef": "b-1", "expirationThreshold": "DOCUMENT_EXPIRED", "documentExpiration": {}}')
) AS v(c, p) ORDER BY c;

-- an expiration notice by header without a threshold
SELECT t.try('{"scanRef": "b-2"}', 'DOCUMENT_EXPIRATION');

-- a bad value deep inside an otherwise valid callback writes nothing at all
SELECT t.try(jsonb_set(t.fx('suspected-tags'), '{AML,0,status,checkSuccessful}', '"true"'));
SELECT t.try(jsonb_set(t.fx('suspected-tags'), '{clientIp}', '"999.0.0.1"'));

-- \u0000 cannot even become jsonb
SELECT '{"scanRef": "a\u0000b"}'::jsonb;

-- a read-only transaction: ingest refuses before it reads or locks anything, new or stored scanRef
BEGIN READ ONLY;
SELECT t.try('{"scanRef": "b-ro", "final": false}');
ROLLBACK;
BEGIN;
SELECT outcome FROM idenfy_ingest('{"scanRef": "b-ro", "final": false}');
SET TRANSACTION READ ONLY;
SELECT t.try('{"scanRef": "b-ro", "final": true}');
ROLLBACK;

-- nothing was written by any of the above
SELECT t.counts() = :'before' AS nothing_written;
SELECT count(*) AS quarantined FROM idenfy.quarantine;

-- 09_signed: signed callbacks: HMAC-SHA256 of the exact body bytes against rotating keys, then ingest.
\i test/helpers.sql
-- the published test vector: this file's exact 3269 bytes, key "TestingKey"
-- (psql's backquote drops the file's final newline; it is put back)
\set body `cat test/fixtures/community-fixture-nonfinal-approved.json`
SELECT octet_length(convert_to(:'body' || E'\n', 'UTF8')) AS body_bytes;

-- no key configured yet
SELECT * FROM idenfy_ingest_signed(convert_to(:'body' || E'\n', 'UTF8'), 'e7386736c7f0e8ee293a7637a316d64f7193c3197c133576e3f72061100180e2');

SELECT idenfy_signing_key_add('old', 'an-old-key');
SELECT idenfy_signing_key_add('current', 'TestingKey');
-- the vector verifies (bytea body), as it does in upper case
SELECT scan_ref, outcome FROM idenfy_ingest_signed(convert_to(:'body' || E'\n', 'UTF8'),
  'e7386736c7f0e8ee293a7637a316d64f7193c3197c133576e3f72061100180e2', 'IDENTIFICATION_AUTO_FINISHED');
SELECT scan_ref, outcome FROM idenfy_ingest_signed(convert_to(:'body' || E'\n', 'UTF8'),
  'E7386736C7F0E8EE293A7637A316D64F7193C3197C133576E3F72061100180E2');
-- the text overload verifies the same bytes
SELECT scan_ref, outcome FROM idenfy_ingest_signed(:'body' || E'\n',
  'e7386736c7f0e8ee293a7637a316d64f7193c3197c133576e3f72061100180e2');
-- the same JSON without the final newline is other bytes: rejected
SELECT * FROM idenfy_ingest_signed(:'body'::text, 'e7386736c7f0e8ee293a7637a316d64f7193c3197c133576e3f72061100180e2');
-- a signature by the other active key (rotation)
SELECT outcome FROM idenfy_ingest_signed('{"scanRef": "rot-1", "final": true}'::text,
  encode(t.hmac('{"scanRef": "rot-1", "final": true}', 'an-old-key', 'sha256'), 'hex'));
-- a removed key no longer verifies
SELECT idenfy_signing_key_remove('old'), idenfy_signing_key_remove('old');
SELECT * FROM idenfy_ingest_signed('{"scanRef": "rot-2", "final": true}'::text,
  encode(t.hmac('{"scanRef": "rot-2", "final": true}', 'an-old-key', 'sha256'), 'hex'));

-- wrong, malformed, missing signatures: SQLSTATE 28000, nothing ingested
SELECT t.counts() AS before \gset
SELECT * FROM idenfy_ingest_signed(convert_to(:'body' || E'\n', 'UTF8'), 'f7386736c7f0e8ee293a7637a316d64f7193c3197c133576e3f72061100180e2');
SELECT * FROM idenfy_ingest_signed(convert_to(:'body' || E'\n', 'UTF8'), 'not-hex');
SELECT * FROM idenfy_ingest_signed(convert_to(:'body' || E'\n', 'UTF8'), NULL);
SELECT * FROM idenfy_ingest_signed(convert_to(:'body' || E'\n', 'UTF8'), repeat('g', 64));
SELECT t.counts() = :'before' AS nothing_written;

-- a correctly signed body that is not JSON: the position, never the content
SELECT * FROM idenfy_ingest_signed('{"scanRef": "j-1", "clientIp": 192.0.2.1}'::text,
  encode(t.hmac('{"scanRef": "j-1", "clientIp": 192.0.2.1}', 'TestingKey', 'sha256'), 'hex'));
SELECT * FROM idenfy_ingest_signed(E'{"scanRef": "j-2",\n "final": true,\n}'::text,
  encode(t.hmac(E'{"scanRef": "j-2",\n "final": true,\n}', 'TestingKey', 'sha256'), 'hex'));
SELECT * FROM idenfy_ingest_signed('{"scanRef": "j-3", "x": "\u0000"}'::text,
  encode(t.hmac('{"scanRef": "j-3", "x": "\u0000"}', 'TestingKey', 'sha256'), 'hex'));
SELECT * FROM idenfy_ingest_signed('\x7b22ff227d'::bytea, encode(t.hmac('\x7b22ff227d'::bytea, 'TestingKey', 'sha256'), 'hex'));
SELECT * FROM idenfy_ingest_signed(NULL::bytea, 'e7386736c7f0e8ee293a7637a316d64f7193c3197c133576e3f72061100180e2');
-- a signed body that is JSON but breaks the contract: the usual errors
SELECT * FROM idenfy_ingest_signed('{"scanRef": 7}'::text, encode(t.hmac('{"scanRef": 7}', 'TestingKey', 'sha256'), 'hex'));

-- quarantine: a signature failure is kept, marked as such, and never ingested
SET idenfy.on_invalid = 'quarantine';
SELECT scan_ref, outcome FROM idenfy_ingest_signed('{"scanRef": "forged-1", "final": true}'::text, repeat('0', 64));
SELECT scan_ref, outcome FROM idenfy_ingest_signed('{"scanRef": "j-4", ]'::text,
  encode(t.hmac('{"scanRef": "j-4", ]', 'TestingKey', 'sha256'), 'hex'));
RESET idenfy.on_invalid;
SELECT reason, sqlstate, message, detail, payload IS NULL AS no_payload, convert_from(body, 'UTF8') AS body
  FROM idenfy.quarantine ORDER BY id;
SELECT count(*) AS forged_ingested FROM idenfy.callback WHERE scan_ref = 'forged-1';

-- keys: replaced by name; stored as bytes
SELECT idenfy_signing_key_add('current', 'TestingKey');
SELECT name FROM idenfy.signing_key ORDER BY name;

/*
 * test/hostile/mutate.sql: random mutations of generated callbacks (test/t/hostile.sh).
 *
 *   psql -v n=3000 -v seed=0.42 -f test/hostile/mutate.sql     (after \i test/gen/gen.sql)
 *
 * Takes 500 generated callbacks and, n times, applies 1 to 3 random mutations to one of them:
 * a value anywhere in the document (any depth, arrays included) replaced by a hostile value
 * (wrong types, out-of-range numbers, long strings, look-alike vendor values, a value taken
 * from elsewhere in the same callback), or deleted.  Each mutant is ingested twice, each in
 * its own subtransaction: with idenfy.on_invalid = 'error' (tallying the SQLSTATE of each
 * error) and with 'quarantine', where nothing may raise.  Deterministic (setseed).
 * Prints: "E <sqlstate> <count>" (errors, on_invalid = error), "O <outcome> <count>"
 * (results, on_invalid = error), "Q <outcome or RAISED:sqlstate> <count>" (quarantine mode),
 * "X <sqlstate> <message>" for the first errors of classes other than 22 or of quarantine mode.
 */
\set QUIET on
SET client_min_messages = warning;
CREATE TEMP TABLE base AS SELECT seq, payload, event_type FROM idenfy_test.gen_callbacks(500, 99);
CREATE TEMP TABLE tally (mode text, what text, n int DEFAULT 1);
CREATE TEMP TABLE odd (mode text, sqlstate text, message text, payload jsonb);

CREATE FUNCTION pg_temp.paths(j jsonb) RETURNS SETOF text[] LANGUAGE sql AS $$
	WITH RECURSIVE t(path, v) AS (
		SELECT ARRAY[]::text[], j
		UNION ALL
		SELECT t.path || e.k, e.v
		  FROM t, LATERAL (
			SELECT key AS k, value AS v
			  FROM jsonb_each(CASE WHEN jsonb_typeof(t.v) = 'object' THEN t.v END)
			UNION ALL
			SELECT (o - 1)::text, value
			  FROM jsonb_array_elements(CASE WHEN jsonb_typeof(t.v) = 'array' THEN t.v END)
			       WITH ORDINALITY a(value, o)) e)
	SELECT path FROM t WHERE cardinality(path) > 0
$$;

SELECT setseed(:seed), set_config('hostile.n', :'n', false) \gset
DO $$
DECLARE
	pool jsonb[] := ARRAY['null', '0', '-1', '1.5', '1e400', '-1e-400', '253402300800', 'true', 'false',
		'""', '"x"', '" "', '[]', '{}', '[1]', '[null]', '[""]', '{"a": 1}', '[[[[[]]]]]',
		to_jsonb(repeat('A', 41)), to_jsonb(repeat('é', 101)), to_jsonb(repeat('Z', 256)),
		to_jsonb(repeat('y', 501)), '"192.0.2.1"', '"::1"', '"300.1.1.1"', '"LT"', '"lt"', '"XX"',
		'"APPROVED"', '"DENIED"', '"SUSPECTED"', '"EXPIRED"', '"FACE_MATCH"', '"DOC_VALIDATED"',
		'"NOT_A_VENDOR_VALUE"', '"DOCUMENT_EXPIRES_WITHIN_30_DAYS"', '"1999-02-29"', '"YYYY-MM-DD"',
		'"https://x.invalid/?Expires=99999999999999"', '"https://x.invalid/?Expires="',
		'["DOC_MOBILE_PHOTO", "NAME"]', '[{"status": {}}]', '{"FACE": null}']::jsonb[];
	b record;
	p jsonb;
	paths text[];
	path text[];
	other jsonb;
	r record;
	state text;
	msg text;
	i int;
	m int;
	k int;
BEGIN
	FOR i IN 1..current_setting('hostile.n')::int LOOP
		k := 1 + floor(random() * 500)::int;
		SELECT * INTO b FROM base WHERE seq = k;
		p := b.payload;
		FOR m IN 1..1 + floor(random() * 3)::int LOOP
			SELECT array_agg(x ORDER BY x) INTO paths FROM (SELECT array_to_string(x, chr(1)) x FROM pg_temp.paths(p) x) s;
			EXIT WHEN paths IS NULL;
			path := string_to_array(paths[1 + floor(random() * cardinality(paths))::int], chr(1));
			IF random() < 0.15 THEN
				p := p #- path;
			ELSIF random() < 0.15 THEN
				-- a value from elsewhere in the same callback
				other := p #> string_to_array(paths[1 + floor(random() * cardinality(paths))::int], chr(1));
				p := jsonb_set(p, path, coalesce(other, 'null'));
			ELSE
				p := jsonb_set(p, path, pool[1 + floor(random() * cardinality(pool))::int]);
			END IF;
		END LOOP;
		-- on_invalid = error
		BEGIN
			PERFORM set_config('idenfy.on_invalid', 'error', true);
			SELECT * INTO r FROM idenfy_ingest(p, b.event_type);
			INSERT INTO tally VALUES ('O', r.outcome::text);
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
			INSERT INTO tally VALUES ('E', state);
			IF state NOT LIKE '22%' THEN
				INSERT INTO odd VALUES ('error', state, msg, p);
			END IF;
		END;
		-- on_invalid = quarantine: nothing raises
		BEGIN
			PERFORM set_config('idenfy.on_invalid', 'quarantine', true);
			SELECT * INTO r FROM idenfy_ingest(p, b.event_type);
			INSERT INTO tally VALUES ('Q', r.outcome::text);
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
			INSERT INTO tally VALUES ('Q', 'RAISED:' || state);
			INSERT INTO odd VALUES ('quarantine', state, msg, p);
		END;
		PERFORM set_config('idenfy.on_invalid', 'error', true);
	END LOOP;
END $$;

\pset tuples_only on
\pset format unaligned
\pset fieldsep ' '
SELECT mode, what, sum(n) FROM tally GROUP BY 1, 2 ORDER BY 1, 2;
SELECT 'X', mode || ':' || sqlstate, left(message, 200) FROM odd ORDER BY mode, sqlstate LIMIT 10;

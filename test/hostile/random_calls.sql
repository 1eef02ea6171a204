/*
 * test/hostile/random_calls.sql: random calls of every function of the extension
 * (test/t/sqlsmith.sh, after the SQLsmith run, which reaches them only now and then).
 *
 *   psql -v n=3000 -v seed=0.7 -f test/hostile/random_calls.sql     (in a database with data)
 *
 * The functions are read from the catalog (pg_depend on the extension), so new ones are
 * called too; trigger functions are skipped.  Each argument is drawn from a pool for its type:
 * NULL, edge values (empty, huge, infinity, extreme numbers, odd characters) and values taken
 * from the stored data (scanRefs, client ids, payloads, tags).  Each call runs in its own
 * subtransaction and is then rolled back (a sentinel exception), so destructive calls (erasure,
 * purge) do not empty the data for the next ones.  Deterministic (setseed).
 * Prints "F <function> <ok> <errors>" per function, "S <sqlstate> <count>" over all calls, and
 * "X <sqlstate> <call> <message>" for internal errors (class XX) and other surprises.
 */
\set QUIET on
SET client_min_messages = warning;
SET statement_timeout = '120s';
CREATE TEMP TABLE calls (fn text, sqlstate text);
CREATE TEMP TABLE odd (sqlstate text, call text, message text);
SELECT setseed(:seed), set_config('hostile.n', :'n', false) \gset

CREATE FUNCTION pg_temp.pick(a text[]) RETURNS text LANGUAGE sql VOLATILE AS
	'SELECT a[1 + floor(random() * cardinality(a))::int]';

DO $$
DECLARE
	fn_list regprocedure[];
	kinds "char"[];
	f regprocedure;
	kind "char";
	argtypes text[];
	args text[];
	t text;
	call text;
	state text;
	msg text;
	i int;
	j int;
	k int;
	sample_scan text[];
	sample_client text[];
	sample_payload text[];
BEGIN
	SELECT array_agg(p.oid::regprocedure ORDER BY p.oid::regprocedure::text), array_agg(p.prokind ORDER BY p.oid::regprocedure::text)
	  INTO fn_list, kinds
	  FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid
	 WHERE d.classid = 'pg_proc'::regclass AND d.refclassid = 'pg_extension'::regclass
	   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'idenfy')
	   AND p.prorettype <> 'trigger'::regtype AND p.prorettype <> 'event_trigger'::regtype;
	SELECT array_agg(quote_literal(scan_ref)) INTO sample_scan FROM (SELECT scan_ref FROM idenfy.verification ORDER BY scan_ref LIMIT 50) s;
	SELECT array_agg(quote_literal(client_id)) INTO sample_client FROM (SELECT DISTINCT client_id FROM idenfy.verification WHERE client_id IS NOT NULL ORDER BY 1 LIMIT 20) s;
	SELECT array_agg(quote_literal(payload::text)) INTO sample_payload FROM (SELECT payload FROM idenfy.callback WHERE payload IS NOT NULL ORDER BY id LIMIT 50) s;

	FOR i IN 1..current_setting('hostile.n')::int LOOP
		k := 1 + floor(random() * cardinality(fn_list))::int;
		f := fn_list[k];
		kind := kinds[k];
		SELECT coalesce(array_agg(format_type(a, NULL) ORDER BY o), '{}') INTO argtypes
		  FROM pg_proc p, unnest(p.proargtypes::oid[]) WITH ORDINALITY u(a, o) WHERE p.oid = f;
		args := '{}';
		FOREACH t IN ARRAY argtypes LOOP
			j := floor(random() * 10)::int;
			args := args || ('(' || CASE
				WHEN j = 0 THEN 'NULL::' || t
				WHEN t = 'text' THEN pg_temp.pick(ARRAY[
					pg_temp.pick(sample_scan),
					pg_temp.pick(sample_scan),
					pg_temp.pick(sample_client),
					'''''', ''' ''', 'repeat(''x'', 100000)', '''%s%n''', '''DOC_MOBILE_PHOTO''',
					'''IDENTIFICATION_AUTO_FINISHED''', '''document-expiration''', 'E''\\''',
					'''never-seen-scan-ref''', 'chr(233)', '''erasure request''',
					pg_temp.pick(sample_payload),
					'encode(hmac(''x'', ''k'', ''sha256''), ''hex'')', 'repeat(''0'', 64)'])
				WHEN t = 'jsonb' THEN pg_temp.pick(ARRAY[
					pg_temp.pick(sample_payload) || '::jsonb',
					pg_temp.pick(sample_payload) || '::jsonb',
					'''{}''::jsonb', '''[]''::jsonb', '''null''::jsonb', '''"x"''::jsonb',
					'''{"scanRef": "rc-1", "final": true}''::jsonb',
					'''{"scanRef": "rc-2", "expirationThreshold": "DOCUMENT_EXPIRED"}''::jsonb',
					'jsonb_set(' || pg_temp.pick(sample_payload) || '::jsonb, ''{status}'', ''7'')'])
				WHEN t = 'bytea' THEN pg_temp.pick(ARRAY['''\x''::bytea', '''\xff00''::bytea',
					'convert_to(' || pg_temp.pick(sample_payload) || ', ''UTF8'')'])
				WHEN t = 'date' THEN pg_temp.pick(ARRAY['current_date', '''infinity''::date', '''-infinity''::date',
					'''0001-01-01''::date', '''9999-12-31''::date', '''4713-01-01 BC''::date', '''2030-01-01''::date'])
				WHEN t = 'interval' THEN pg_temp.pick(ARRAY['''0''::interval', '''-1 day''::interval', '''1000 years''::interval',
					'''1 microsecond''::interval', '''178000000 years''::interval', '''30 days''::interval'])
				WHEN t = 'boolean' THEN pg_temp.pick(ARRAY['true', 'false'])
				WHEN t IN ('integer', 'bigint', 'smallint') THEN pg_temp.pick(ARRAY['0', '-1', '1', '2147483647', '-2147483648', '100000']) || '::' || t
				WHEN t = 'text[]' THEN pg_temp.pick(ARRAY['''{}''::text[]', '''{NULL}''::text[]', '''{DOC_MOBILE_PHOTO}''::text[]',
					'''{DOC_MOBILE_PHOTO,NAME,UNKNOWN_TAG}''::text[]', 'ARRAY[repeat(''x'', 10000)]'])
				ELSE 'NULL::' || t
			END || ')::' || t);
		END LOOP;
		IF kind = 'p' THEN
			call := format('CALL %s(%s)', f::oid::regproc, array_to_string(args, ', '));
		ELSE
			call := format('SELECT count(*) FROM (SELECT %s(%s)) s', f::oid::regproc, array_to_string(args, ', '));
		END IF;
		BEGIN
			EXECUTE call;
			RAISE EXCEPTION USING ERRCODE = 'P0999', MESSAGE = 'roll back the call';
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
			INSERT INTO calls VALUES (f::text, CASE WHEN state = 'P0999' THEN 'ok' ELSE state END);
			IF state LIKE 'XX%' OR state LIKE '58%' OR state = '57P01' THEN
				INSERT INTO odd VALUES (state, left(call, 300), msg);
			END IF;
		END;
	END LOOP;
END $$;

\pset tuples_only on
\pset format unaligned
\pset fieldsep ' '
SELECT 'F', fn, count(*) FILTER (WHERE sqlstate = 'ok'), count(*) FILTER (WHERE sqlstate <> 'ok') FROM calls GROUP BY fn ORDER BY fn;
SELECT 'S', sqlstate, count(*) FROM calls GROUP BY sqlstate ORDER BY 3 DESC;
SELECT 'E', fn, sqlstate, count(*) FROM calls WHERE sqlstate <> 'ok' GROUP BY 1, 2, 3 ORDER BY 2, 3;
SELECT 'X', sqlstate, call, message FROM odd LIMIT 10;

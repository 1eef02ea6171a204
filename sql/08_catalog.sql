-- 08_catalog: invariants that let every table be distributed by scan_ref (Citus), checked on the catalog.

-- the lookup tables (small, can become reference tables); every other table holds per-verification data
CREATE TEMP TABLE lookup_tables (relname name);
INSERT INTO lookup_tables VALUES ('tag_policy'), ('signing_key');

CREATE TEMP VIEW distribution_violations AS
-- a per-verification table without a scan_ref column or without a primary key
SELECT c.relname::text AS tbl, 'no scan_ref column' AS problem
  FROM pg_class c
 WHERE c.relnamespace = 'idenfy'::regnamespace AND c.relkind IN ('r', 'p')
   AND c.relname NOT IN (SELECT relname FROM lookup_tables)
   AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'scan_ref')
UNION ALL
SELECT c.relname, 'no primary key'
  FROM pg_class c
 WHERE c.relnamespace = 'idenfy'::regnamespace AND c.relkind IN ('r', 'p')
   AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)
UNION ALL
-- a primary key or unique index (constraint or not) without scan_ref
SELECT c.relname, 'unique index ' || i.indexrelid::regclass || ' without scan_ref'
  FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
 WHERE c.relnamespace = 'idenfy'::regnamespace AND i.indisunique
   AND c.relname NOT IN (SELECT relname FROM lookup_tables)
   AND NOT EXISTS (SELECT 1 FROM pg_attribute a
                    WHERE a.attrelid = c.oid AND a.attname = 'scan_ref' AND a.attnum = ANY (i.indkey))
UNION ALL
-- an exclusion constraint (cannot be enforced across shards unless on scan_ref)
SELECT c.relname, 'exclusion constraint ' || x.conname
  FROM pg_constraint x JOIN pg_class c ON c.oid = x.conrelid
 WHERE c.relnamespace = 'idenfy'::regnamespace AND x.contype = 'x'
UNION ALL
-- a foreign key that is neither scan_ref to scan_ref nor towards a lookup table
SELECT c.relname, 'foreign key ' || f.conname
  FROM pg_constraint f JOIN pg_class c ON c.oid = f.conrelid JOIN pg_class r ON r.oid = f.confrelid
 WHERE c.relnamespace = 'idenfy'::regnamespace AND f.contype = 'f'
   AND r.relname NOT IN (SELECT relname FROM lookup_tables)
   AND NOT ((SELECT array_agg(a.attname ORDER BY a.attname) FROM pg_attribute a
              WHERE a.attrelid = f.conrelid AND a.attnum = ANY (f.conkey)) @> ARRAY['scan_ref'::name]
        AND (SELECT array_agg(a.attname ORDER BY a.attname) FROM pg_attribute a
              WHERE a.attrelid = f.confrelid AND a.attnum = ANY (f.confkey)) @> ARRAY['scan_ref'::name]);

-- the extension as installed: no violation
SELECT * FROM distribution_violations ORDER BY 1, 2;

-- every per-verification table, with scan_ref leading its primary key
SELECT c.relname, (SELECT a.attname FROM pg_attribute a
                    WHERE a.attrelid = c.oid AND a.attnum = i.indkey[0]) AS first_key_column
  FROM pg_class c JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
 WHERE c.relnamespace = 'idenfy'::regnamespace AND c.relkind = 'r'
 ORDER BY 1;

-- the check can fail: a unique constraint without scan_ref, a foreign key between other columns
BEGIN;
ALTER TABLE idenfy.callback ADD CONSTRAINT callback_id_key UNIQUE (id);
ALTER TABLE idenfy.face_link ADD CONSTRAINT face_link_bad_fk FOREIGN KEY (other_scan_ref) REFERENCES idenfy.erasure (scan_ref) NOT VALID;
CREATE UNIQUE INDEX document_doc_number_idx ON idenfy.document (doc_number);
SELECT * FROM distribution_violations ORDER BY 1, 2;
ROLLBACK;

-- 01_install: CREATE EXTENSION makes the enum types, tables and functions; DROP EXTENSION removes them all.

-- the vocabularies, with the union of the reference page and NOTES.md
SELECT t.typname, count(*) AS labels
  FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
 WHERE t.typnamespace = 'idenfy'::regnamespace
 GROUP BY t.typname ORDER BY t.typname;

-- both spellings of the NFC failure exist
SELECT enumlabel FROM pg_enum
 WHERE enumtypid = 'idenfy.document_status'::regtype AND enumlabel LIKE 'NFC%'
 ORDER BY enumlabel;

-- tables
SELECT c.relname, c.relkind FROM pg_class c
 WHERE c.relnamespace = 'idenfy'::regnamespace AND c.relkind IN ('r', 'S', 'v')
 ORDER BY c.relname;

-- every object of the extension has a comment
SELECT pg_describe_object(d.classid, d.objid, 0) AS uncommented
  FROM pg_depend d
 WHERE d.refclassid = 'pg_extension'::regclass
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'idenfy')
   AND d.deptype = 'e'
   AND obj_description(d.objid, d.classid::regclass::text) IS NULL
   -- the implicit row and array types (members too since PostgreSQL 17) have none
   AND NOT (d.classid = 'pg_type'::regclass AND EXISTS
            (SELECT 1 FROM pg_type t
              WHERE t.oid = d.objid
                AND (t.typrelid <> 0 OR EXISTS (SELECT 1 FROM pg_type e WHERE e.typarray = t.oid))))
 ORDER BY 1;

-- ... and so do the triggers and columns that carry rules
SELECT tgname FROM pg_trigger
 WHERE tgrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'idenfy'::regnamespace)
   AND NOT tgisinternal AND obj_description(oid, 'pg_trigger') IS NULL
 ORDER BY 1;

-- every data table and sequence is dumped with its rows
SELECT c.relname FROM pg_class c
 WHERE c.relnamespace = 'idenfy'::regnamespace AND c.relkind IN ('r', 'S')
   AND c.oid NOT IN (SELECT unnest(extconfig) FROM pg_extension WHERE extname = 'idenfy')
 ORDER BY 1;

-- the entry point is callable unqualified
SELECT p.proname, pg_get_function_identity_arguments(p.oid) AS args
  FROM pg_proc p WHERE p.proname LIKE 'idenfy\_%' ORDER BY 1, 2;

-- DROP EXTENSION removes every object it made
DROP EXTENSION idenfy;
SELECT count(*) AS idenfy_schemas FROM pg_namespace WHERE nspname = 'idenfy';
SELECT count(*) AS idenfy_functions FROM pg_proc WHERE proname LIKE 'idenfy\_%';
SELECT count(*) AS idenfy_types FROM pg_type WHERE typname IN ('overall_status', 'decision');
CREATE EXTENSION idenfy;
SELECT extversion FROM pg_extension WHERE extname = 'idenfy';

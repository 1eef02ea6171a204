/*-------------------------------------------------------------------------
 *
 * tables.c
 *		The extension's tables and indexes by OID, found once per backend,
 *		and equality scans of an index's leading columns.
 *
 * Used where a statement through SPI would cost more than the work itself:
 * the lookups of one scanRef (lookup.c) and the stored state that ingest
 * reads and locks before each callback (store.c).  The OIDs are found by
 * name in the schema idenfy, and again after any relcache invalidation of
 * one of them (an upgrade that rebuilds an index, DROP EXTENSION).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "idenfy.h"

static IdenfyTables tables;

static void
TablesInvalidate(Datum arg, Oid relid)
{
	const IdenfyTables *t = &tables;

	if (!OidIsValid(relid) ||
		relid == t->verification || relid == t->verification_pkey ||
		relid == t->face_link || relid == t->face_link_pkey || relid == t->face_link_other ||
		relid == t->callback || relid == t->callback_pkey ||
		relid == t->erasure || relid == t->erasure_pkey ||
		relid == t->document_expiration || relid == t->document_expiration_pkey ||
		relid == t->callback_id_seq)
		tables.valid = false;
}

static Oid
Find(const char *name, Oid nsp)
{
	Oid			relid = get_relname_relid(name, nsp);

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("relation \"%s.%s\" does not exist", IDENFY_SCHEMA, name)));
	return relid;
}

static AttrNumber
Column(Oid relid, const char *name)
{
	AttrNumber	attnum = get_attnum(relid, name);

	if (attnum == InvalidAttrNumber)
		elog(ERROR, "idenfy: column %s of %s not found", name, get_rel_name(relid));
	return attnum;
}

/* IdenfyGetTables: the OIDs and column numbers, looked up when first needed */
const IdenfyTables *
IdenfyGetTables(void)
{
	static bool registered = false;

	if (!registered)
	{
		CacheRegisterRelcacheCallback(TablesInvalidate, (Datum) 0);
		registered = true;
	}
	if (!tables.valid)
	{
		Oid			nsp = get_namespace_oid(IDENFY_SCHEMA, false);

		tables.verification = Find("verification", nsp);
		tables.verification_pkey = Find("verification_pkey", nsp);
		tables.face_link = Find("face_link", nsp);
		tables.face_link_pkey = Find("face_link_pkey", nsp);
		tables.face_link_other = Find("face_link_other_idx", nsp);
		tables.callback = Find("callback", nsp);
		tables.callback_pkey = Find("callback_pkey", nsp);
		tables.erasure = Find("erasure", nsp);
		tables.erasure_pkey = Find("erasure_pkey", nsp);
		tables.document_expiration = Find("document_expiration", nsp);
		tables.document_expiration_pkey = Find("document_expiration_pkey", nsp);
		tables.callback_id_seq = Find("callback_id_seq", nsp);
		tables.v_scan_ref = Column(tables.verification, "scan_ref");
		tables.v_client_id = Column(tables.verification, "client_id");
		tables.v_decision = Column(tables.verification, "decision");
		tables.v_final = Column(tables.verification, "final");
		tables.v_has_manual = Column(tables.verification, "has_manual");
		tables.f_scan_ref = Column(tables.face_link, "scan_ref");
		tables.f_kind = Column(tables.face_link, "kind");
		tables.f_other = Column(tables.face_link, "other_scan_ref");
		tables.c_id = Column(tables.callback, "id");
		tables.valid = true;
	}
	return &tables;
}

/*
 * IdenfyOpenTable: open a table with lock, checking that the current user
 * (the owner, in SECURITY DEFINER) has the rights a statement would need.
 */
Relation
IdenfyOpenTable(Oid relid, AclMode rights, LOCKMODE lock)
{
	AclResult	acl = pg_class_aclcheck(relid, GetUserId(), rights);

	if (acl != ACLCHECK_OK)
		aclcheck_error(acl, OBJECT_TABLE, get_rel_name(relid));
	return table_open(relid, lock);
}

/* ------------------------------------------------------------------------
 * Equality scans of an index's leading columns.
 * ------------------------------------------------------------------------ */

/* IdenfyKeyScanBegin: a scan of index indexid of heap, under snapshot, on nkeys columns */
void
IdenfyKeyScanBegin(IdenfyKeyScan *ks, Relation heap, Oid indexid, Snapshot snapshot, int nkeys)
{
	Assert(nkeys >= 1 && nkeys <= IDENFY_MAX_SCAN_KEYS);
	ks->index = index_open(indexid, AccessShareLock);
	ks->nkeys = nkeys;
	ks->slot = table_slot_create(heap, NULL);
	ks->scan = index_beginscan(heap, ks->index, snapshot, nkeys, 0);
}

/*
 * IdenfyKeyScanFind: start over with the rows whose first columns equal
 * keys; procs are the equality functions of the columns' types (F_TEXTEQ...).
 */
void
IdenfyKeyScanFind(IdenfyKeyScan *ks, const Datum *keys, const RegProcedure *procs)
{
	ScanKeyData skeys[IDENFY_MAX_SCAN_KEYS];
	int			i;

	for (i = 0; i < ks->nkeys; i++)
		ScanKeyEntryInitialize(&skeys[i], 0, i + 1, BTEqualStrategyNumber, InvalidOid,
							   ks->index->rd_indcollation[i], procs[i], keys[i]);
	index_rescan(ks->scan, skeys, ks->nkeys, NULL, 0);
}

/* IdenfyKeyScanNext: the next matching row into ks->slot; false at the end */
bool
IdenfyKeyScanNext(IdenfyKeyScan *ks)
{
	return index_getnext_slot(ks->scan, ForwardScanDirection, ks->slot);
}

void
IdenfyKeyScanEnd(IdenfyKeyScan *ks)
{
	index_endscan(ks->scan);
	ExecDropSingleTupleTableSlot(ks->slot);
	index_close(ks->index, NoLock);
}

/*-------------------------------------------------------------------------
 *
 * tables.c
 *		The extension's tables and indexes by OID, found once per backend,
 *		equality scans of an index's leading columns, and direct inserts.
 *
 * Used where a statement through SPI would cost more than the work itself:
 * the lookups of one scanRef (lookup.c), the stored state that ingest reads
 * and locks before each callback, and the plain inserts of a new
 * verification's first history row and document (store.c).  The OIDs are
 * found by name in the schema idenfy, and again after any relcache
 * invalidation of one of them (an upgrade that rebuilds an index, DROP
 * EXTENSION).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "idenfy.h"

static IdenfyTables tables;

#define MAX_ROW_TARGETS 4
static IdenfyRowTarget *row_targets[MAX_ROW_TARGETS];
static int	n_row_targets = 0;

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
	for (int i = 0; i < n_row_targets; i++)
		if (!OidIsValid(relid) || relid == row_targets[i]->relid)
			row_targets[i]->valid = false;
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
#if PG_VERSION_NUM >= 180000
	/* PostgreSQL 18: index_beginscan takes an instrumentation struct (NULL: none) */
	ks->scan = index_beginscan(heap, ks->index, snapshot, NULL, nkeys, 0);
#else
	ks->scan = index_beginscan(heap, ks->index, snapshot, nkeys, 0);
#endif
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

/* ------------------------------------------------------------------------
 * Direct inserts.
 *
 * A one-row INSERT through SPI starts and ends the executor: a projection
 * of every column is built (twice: the VALUES list and the insert's own),
 * the plan revalidated, its range table checked, snapshots pushed.  For the
 * wide rows ingest writes that costs as much as the insert itself.  Here
 * the row goes the way the executor sends it, without the rest: formed
 * from the caller's values, inserted into the heap (TOAST included), its
 * index entries inserted, unique ones checked.  Only into a table as the
 * extension made it: an ordinary table without triggers, row security,
 * CHECK constraints or generated columns, whose every column the caller
 * gives, in the column's own type; otherwise (a trigger a DBA added, a
 * column a later version added) IdenfyInsertRow returns false and the
 * caller runs its statement.  NOT NULL is checked here.
 * ------------------------------------------------------------------------ */

/* Fill target's column numbers and decide whether it may be used. */
static void
RowTargetPrepare(IdenfyRowTarget *target, const Oid *types)
{
	Oid			relid;
	Relation	rel;
	TupleDesc	desc;
	int			covered = 0;
	int			live = 0;
	bool		usable;

	(void) IdenfyGetTables();	/* registers the invalidation callback */
	relid = Find(target->table, get_namespace_oid(IDENFY_SCHEMA, false));
	rel = table_open(relid, AccessShareLock);
	desc = RelationGetDescr(rel);
	usable = rel->rd_rel->relkind == RELKIND_RELATION &&
		target->ncols <= IDENFY_MAX_ROW_COLUMNS &&
		(desc->constr == NULL || (desc->constr->num_check == 0 && !desc->constr->has_generated_stored));

	for (int i = 0; usable && i < target->ncols; i++)
	{
		AttrNumber	attnum = get_attnum(relid, target->names[i]);

		if (attnum <= 0 || TupleDescAttr(desc, attnum - 1)->atttypid != types[i])
			usable = false;
		else
		{
			target->attnums[i] = attnum;
			covered++;
		}
	}
	for (int j = 0; j < desc->natts; j++)
		if (!TupleDescAttr(desc, j)->attisdropped)
			live++;
	target->relid = relid;
	target->usable = usable && covered == live;
	target->valid = true;
	table_close(rel, AccessShareLock);

	/* once registered, a relcache invalidation of the table makes it prepare again */
	for (int i = 0; i < n_row_targets; i++)
		if (row_targets[i] == target)
			return;
	if (n_row_targets == MAX_ROW_TARGETS)
		elog(ERROR, "idenfy: too many direct insert targets");
	row_targets[n_row_targets++] = target;
}

/*
 * IdenfyInsertRow: insert one row into target's table; values[i] (of type
 * types[i], NULL when nulls[i] is 'n', as for SPI) is column names[i].
 * names and types are read only while target is not valid (first use, or
 * after an invalidation).
 * false, having done nothing, when the table is not as the extension made
 * it: the caller then runs its INSERT statement.
 */
bool
IdenfyInsertRow(IdenfyRowTarget *target, const Oid *types, const Datum *values, const char *nulls)
{
	Relation	rel;
	TupleDesc	desc;
	TupleTableSlot *slot;
	EState	   *estate;
	ResultRelInfo *rri;

	if (!target->valid)
		RowTargetPrepare(target, types);
	if (!target->usable)
		return false;

	rel = IdenfyOpenTable(target->relid, ACL_INSERT, RowExclusiveLock);
	if (rel->trigdesc != NULL || rel->rd_rel->relrowsecurity)
	{
		table_close(rel, NoLock);
		return false;
	}
	PreventCommandIfReadOnly("INSERT");
	PreventCommandIfParallelMode("INSERT");

	desc = RelationGetDescr(rel);
	slot = table_slot_create(rel, NULL);
	ExecClearTuple(slot);
	memset(slot->tts_isnull, true, sizeof(bool) * desc->natts);
	for (int i = 0; i < target->ncols; i++)
	{
		int			j = target->attnums[i] - 1;

		slot->tts_isnull[j] = nulls != NULL && nulls[i] == 'n';
		slot->tts_values[j] = slot->tts_isnull[j] ? (Datum) 0 : values[i];
	}
	for (int j = 0; j < desc->natts; j++)
		if (TupleDescAttr(desc, j)->attnotnull && slot->tts_isnull[j])
			ereport(ERROR,
					(errcode(ERRCODE_NOT_NULL_VIOLATION),
					 errmsg("null value in column \"%s\" of relation \"%s\" violates not-null constraint",
							NameStr(TupleDescAttr(desc, j)->attname), RelationGetRelationName(rel))));
	ExecStoreVirtualTuple(slot);

	estate = CreateExecutorState();
	rri = makeNode(ResultRelInfo);
	InitResultRelInfo(rri, rel, 0, NULL, 0);
	ExecOpenIndices(rri, false);
	table_tuple_insert(rel, slot, GetCurrentCommandId(true), 0, NULL);
	if (rri->ri_NumIndices > 0)
#if PG_VERSION_NUM >= 160000
		/* PostgreSQL 16: a last argument, onlySummarizing (false: every index) */
		ExecInsertIndexTuples(rri, slot, estate, false, false, NULL, NIL, false);
#else
		ExecInsertIndexTuples(rri, slot, estate, false, false, NULL, NIL);
#endif
	ExecCloseIndices(rri);
	FreeExecutorState(estate);
	ExecDropSingleTupleTableSlot(slot);
	table_close(rel, NoLock);
	return true;
}

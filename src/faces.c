/*-------------------------------------------------------------------------
 *
 * faces.c
 *		Connected groups of duplicate-face links, for fraud-ring hunting:
 *		union-find over idenfy.face_link in memory.
 *
 * Each link (A listed B as a duplicate selfie or document face) joins A's
 * and B's groups; a group's id is its smallest scanRef (bytewise), so the
 * answer does not depend on the order links are read in.  One pass over the
 * links, near-constant work per link.
 *
 * idenfy_face_groups() (1.4.0) returns the groups themselves, computed here
 * rather than by aggregates in SQL: the groups' arrays come out of one sort
 * of the scanRefs, where the aggregates (two ordered, one DISTINCT) sorted
 * each group on its own, tens of thousands of small sorts; the decision and
 * clientId of every scanRef are read by one prepared statement.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/tuplestore.h"
#include "utils/varlena.h"

#include "idenfy.h"

typedef struct FaceNode
{
	char		scan_ref[IDENFY_SCAN_REF_MAX + 1];	/* hash key */
	int			index;
} FaceNode;

typedef struct Components
{
	HTAB	   *nodes;
	FaceNode  **byindex;		/* index -> node */
	int		   *parent;
	int			n;
	int			capacity;
} Components;

static int
NodeIndex(Components *c, const char *scan_ref)
{
	FaceNode   *node;
	bool		found;
	char		key[IDENFY_SCAN_REF_MAX + 1];

	/* links are validated at ingest: at most IDENFY_SCAN_REF_MAX bytes */
	memset(key, 0, sizeof(key));
	strlcpy(key, scan_ref, sizeof(key));
	node = hash_search(c->nodes, key, HASH_ENTER, &found);
	if (!found)
	{
		if (c->n == c->capacity)
		{
			c->capacity *= 2;
			c->byindex = repalloc(c->byindex, sizeof(FaceNode *) * c->capacity);
			c->parent = repalloc(c->parent, sizeof(int) * c->capacity);
		}
		node->index = c->n;
		c->byindex[c->n] = node;
		c->parent[c->n] = c->n;
		c->n++;
	}
	return node->index;
}

static int
Find(Components *c, int i)
{
	while (c->parent[i] != i)
	{
		c->parent[i] = c->parent[c->parent[i]];	/* path halving */
		i = c->parent[i];
	}
	return i;
}

/* Join two groups; the root is always the group's smallest scanRef. */
static void
Union(Components *c, int a, int b)
{
	int			ra = Find(c, a);
	int			rb = Find(c, b);

	if (ra == rb)
		return;
	if (strcmp(c->byindex[ra]->scan_ref, c->byindex[rb]->scan_ref) < 0)
		c->parent[rb] = ra;
	else
		c->parent[ra] = rb;
}

/* Read every face link into c: the union-find of the groups. */
static void
BuildComponents(Components *c)
{
	MemoryContext outer = CurrentMemoryContext;
	HASHCTL		ctl;
	uint64		r;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = IDENFY_SCAN_REF_MAX + 1;
	ctl.entrysize = sizeof(FaceNode);
	ctl.hcxt = CurrentMemoryContext;
	c->nodes = hash_create("idenfy face groups", 1024, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	c->capacity = 1024;
	c->n = 0;
	c->byindex = palloc(sizeof(FaceNode *) * c->capacity);
	c->parent = palloc(sizeof(int) * c->capacity);

	SPI_connect();
	if (SPI_execute("SELECT f.scan_ref, f.other_scan_ref FROM " IDENFY_SCHEMA ".face_link f"
					" WHERE f.scan_ref OPERATOR(pg_catalog.<>) f.other_scan_ref", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "idenfy: could not read the face links");
	for (r = 0; r < SPI_processed; r++)
	{
		char	   *a = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1);
		char	   *b = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2);
		MemoryContext spi = MemoryContextSwitchTo(outer);
		int			ia = NodeIndex(c, a);
		int			ib = NodeIndex(c, b);

		MemoryContextSwitchTo(spi);
		Union(c, ia, ib);
	}
	SPI_finish();
}

/* idenfy.face_components(): every linked scanRef with its group's id */
PG_FUNCTION_INFO_V1(idenfy_face_components);
Datum
idenfy_face_components(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Components	c;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	BuildComponents(&c);
	for (i = 0; i < c.n; i++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = CStringGetTextDatum(c.byindex[i]->scan_ref);
		values[1] = CStringGetTextDatum(c.byindex[Find(&c, i)]->scan_ref);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* ------------------------------------------------------------------------
 * idenfy_face_groups()
 * ------------------------------------------------------------------------ */
typedef struct Member
{
	const char *scan_ref;
	char	   *client_id;		/* NULL: none, or not stored here */
	Oid			decision;		/* InvalidOid: not stored here */
} Member;

typedef struct FaceGroup
{
	int			first;			/* in members[]: a group's members, by scanRef */
	int			size;
	const char *id;
} FaceGroup;

/* client ids in the database's collation, as array_agg(DISTINCT) sorts them */
static int
ClientIdCompare(const void *a, const void *b)
{
	const char *x = *(const char *const *) a;
	const char *y = *(const char *const *) b;

	return varstr_cmp(x, strlen(x), y, strlen(y), DEFAULT_COLLATION_OID);
}

/* groups by size, largest first, then by id (bytewise) */
static int
GroupCompare(const void *a, const void *b)
{
	const FaceGroup *x = a;
	const FaceGroup *y = b;

	if (x->size != y->size)
		return x->size > y->size ? -1 : 1;
	return strcmp(x->id, y->id);
}

/* node indexes of components arg by scanRef (bytewise, as COLLATE "C") */
static int
NodeByScanRef(const void *a, const void *b, void *arg)
{
	Components *c = arg;

	return strcmp(c->byindex[*(const int *) a]->scan_ref, c->byindex[*(const int *) b]->scan_ref);
}

/*
 * The decision and clientId of every member (order: by scanRef), by one
 * statement that probes the primary key in its own order: an index-only
 * scan (the key carries both), where lookup.c's reader, which fetches each
 * heap row, took 20% longer over 53,000 scanRefs.
 */
static void
LookUpMembers(Member **order, int n)
{
	MemoryContext outer = CurrentMemoryContext;
	Datum	   *keys = palloc(sizeof(Datum) * n);
	Datum		arg;
	Oid			argtype = TEXTARRAYOID;
	SPIPlanPtr	plan;
	uint64		r;
	int			i;

	for (i = 0; i < n; i++)
		keys[i] = CStringGetTextDatum(order[i]->scan_ref);
	arg = PointerGetDatum(construct_array(keys, n, TEXTOID, -1, false, TYPALIGN_INT));

	SPI_connect();

	/*
	 * A generic plan: a nested loop of primary-key probes (index only), which
	 * a plan made for the actual array might trade for a scan of every
	 * verification.
	 */
	plan = SPI_prepare_cursor("SELECT k.i, v.client_id, v.decision"
							  " FROM pg_catalog.unnest($1) WITH ORDINALITY AS k(scan_ref, i)"
							  " JOIN " IDENFY_SCHEMA ".verification v"
							  " ON v.scan_ref OPERATOR(pg_catalog.=) k.scan_ref",
							  1, &argtype, CURSOR_OPT_GENERIC_PLAN);
	if (plan == NULL || SPI_execute_plan(plan, &arg, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "idenfy: could not look up the linked verifications");
	for (r = 0; r < SPI_processed; r++)
	{
		HeapTuple	row = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int64		k = DatumGetInt64(SPI_getbinval(row, desc, 1, &isnull));
		Datum		client_id = SPI_getbinval(row, desc, 2, &isnull);
		Member	   *m;

		if (k < 1 || k > n)
			elog(ERROR, "idenfy: unexpected member " INT64_FORMAT, k);
		m = order[k - 1];
		if (!isnull)
		{
			MemoryContext spi = MemoryContextSwitchTo(outer);

			m->client_id = TextDatumGetCString(client_id);
			MemoryContextSwitchTo(spi);
		}
		m->decision = DatumGetObjectId(SPI_getbinval(row, desc, 3, &isnull));
		if (isnull)
			m->decision = InvalidOid;
	}
	SPI_finish();
}

/* One result row: a group's id, size, scanRefs, distinct clientIds and decisions. */
static void
PutGroup(ReturnSetInfo *rsinfo, const Member *m, int size, Oid decision_type)
{
	Datum	   *scan_refs = palloc(sizeof(Datum) * size);
	Datum	   *decisions = palloc(sizeof(Datum) * size);
	bool	   *decision_nulls = palloc(sizeof(bool) * size);
	const char **ids = palloc(sizeof(char *) * size);
	Datum	   *client_ids = palloc(sizeof(Datum) * size);
	int			dims[1] = {size};
	int			lbs[1] = {1};
	int			nids = 0,
				ndistinct = 0;
	int			i;
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};

	for (i = 0; i < size; i++)
	{
		scan_refs[i] = CStringGetTextDatum(m[i].scan_ref);
		decision_nulls[i] = !OidIsValid(m[i].decision);
		decisions[i] = ObjectIdGetDatum(m[i].decision);
		if (m[i].client_id)
			ids[nids++] = m[i].client_id;
	}
	qsort(ids, nids, sizeof(char *), ClientIdCompare);
	for (i = 0; i < nids; i++)
		if (i == 0 || strcmp(ids[i], ids[i - 1]) != 0)
			client_ids[ndistinct++] = CStringGetTextDatum(ids[i]);

	values[0] = CStringGetTextDatum(m[0].scan_ref);	/* the root: its smallest scanRef */
	values[1] = Int32GetDatum(size);
	values[2] = PointerGetDatum(construct_array(scan_refs, size, TEXTOID, -1, false, TYPALIGN_INT));
	values[3] = PointerGetDatum(ndistinct > 0
								? construct_array(client_ids, ndistinct, TEXTOID, -1, false, TYPALIGN_INT)
								: construct_empty_array(TEXTOID));
	values[4] = PointerGetDatum(construct_md_array(decisions, decision_nulls, 1, dims, lbs,
												   decision_type, sizeof(Oid), true, TYPALIGN_INT));
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * idenfy_face_groups(): the connected groups of verifications linked by
 * duplicate faces, largest first (then by id): group id (its smallest
 * scanRef), size, scanRefs and their decisions (NULL where not stored
 * here) in scanRef order, distinct clientIds in the database's collation.
 */
PG_FUNCTION_INFO_V1(idenfy_face_groups);
Datum
idenfy_face_groups(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Components	c;
	int		   *by_scan_ref;
	int		   *group_of;		/* root node -> group, -1 */
	int		   *filled;
	Member	   *members;
	Member	  **lookup;
	FaceGroup  *groups;
	int			ngroups = 0;
	int			first = 0;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	BuildComponents(&c);
	if (c.n == 0)
		return (Datum) 0;

	/*
	 * One sort, of the scanRefs; then each group's members, taken in that
	 * order, are in scanRef order, and the first is the group's root (its
	 * smallest scanRef).
	 */
	by_scan_ref = palloc(sizeof(int) * c.n);
	for (i = 0; i < c.n; i++)
		by_scan_ref[i] = i;
	qsort_arg(by_scan_ref, c.n, sizeof(int), NodeByScanRef, &c);

	group_of = palloc(sizeof(int) * c.n);
	memset(group_of, -1, sizeof(int) * c.n);
	groups = palloc(sizeof(FaceGroup) * c.n);
	for (i = 0; i < c.n; i++)
	{
		int			root = Find(&c, by_scan_ref[i]);

		if (group_of[root] < 0)
		{
			group_of[root] = ngroups;
			groups[ngroups].size = 0;
			groups[ngroups].id = c.byindex[root]->scan_ref;
			ngroups++;
		}
		groups[group_of[root]].size++;
	}
	filled = palloc0(sizeof(int) * ngroups);
	for (i = 0; i < ngroups; i++)
	{
		groups[i].first = first;
		first += groups[i].size;
	}
	members = palloc0(sizeof(Member) * c.n);
	lookup = palloc(sizeof(Member *) * c.n);
	for (i = 0; i < c.n; i++)
	{
		int			node = by_scan_ref[i];
		int			g = group_of[Find(&c, node)];
		Member	   *m = &members[groups[g].first + filled[g]++];

		m->scan_ref = c.byindex[node]->scan_ref;
		lookup[i] = m;
	}
	LookUpMembers(lookup, c.n);

	qsort(groups, ngroups, sizeof(FaceGroup), GroupCompare);
	for (i = 0; i < ngroups; i++)
		PutGroup(rsinfo, &members[groups[i].first], groups[i].size,
				 IdenfyVocabType(VOCAB_DECISION));
	return (Datum) 0;
}

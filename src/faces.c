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
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/tuplestore.h"

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

/* idenfy.face_components(): every linked scanRef with its group's id */
PG_FUNCTION_INFO_V1(idenfy_face_components);
Datum
idenfy_face_components(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Components	c;
	HASHCTL		ctl;
	uint64		r;
	int			i;

	InitMaterializedSRF(fcinfo, 0);

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = IDENFY_SCAN_REF_MAX + 1;
	ctl.entrysize = sizeof(FaceNode);
	ctl.hcxt = CurrentMemoryContext;
	c.nodes = hash_create("idenfy face groups", 1024, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	c.capacity = 1024;
	c.n = 0;
	c.byindex = palloc(sizeof(FaceNode *) * c.capacity);
	c.parent = palloc(sizeof(int) * c.capacity);

	{
		MemoryContext outer = CurrentMemoryContext;

		SPI_connect();
		if (SPI_execute("SELECT f.scan_ref, f.other_scan_ref FROM " IDENFY_SCHEMA ".face_link f"
						" WHERE f.scan_ref OPERATOR(pg_catalog.<>) f.other_scan_ref", true, 0) != SPI_OK_SELECT)
			elog(ERROR, "idenfy: could not read the face links");
		for (r = 0; r < SPI_processed; r++)
		{
			char	   *a = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1);
			char	   *b = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2);
			MemoryContext spi = MemoryContextSwitchTo(outer);
			int			ia = NodeIndex(&c, a);
			int			ib = NodeIndex(&c, b);

			MemoryContextSwitchTo(spi);
			Union(&c, ia, ib);
		}
		SPI_finish();
	}

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

/*-------------------------------------------------------------------------
 *
 * inputs.h
 *	  The inputs of an idenfy-load run, from its FILE arguments, and the
 *	  password prompt.
 *
 * src/load/inputs.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef IDENFY_LOAD_INPUTS_H
#define IDENFY_LOAD_INPUTS_H

#include <stdbool.h>
#include <stdint.h>

#include "reader.h"

/* An input that could not be used: for the summary. */
typedef struct InputProblem
{
	char	   *file;
	char	   *message;		/* "could not open: No such file or directory" */
} InputProblem;

typedef struct Inputs
{
	LoadInput  *items;			/* in load order; paths owned here */
	int			n;
	int			cap;
	InputProblem *problems;		/* in the order they were found */
	int			nproblems;
	int			cap_problems;
	int64_t		total_bytes;	/* of regular files, for the progress line */
	bool		size_known;		/* false: some input is a pipe or a tty */
	const char *progname;
} Inputs;

extern void inputs_init(Inputs *in, const char *progname);
extern void inputs_add_arg(Inputs *in, const char *arg, const char *event_type);
extern void inputs_problem(Inputs *in, const char *file, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));
extern void inputs_free(Inputs *in);
extern bool inputs_is_input_name(const char *name);

extern char *prompt_password(const char *prompt);

#endif							/* IDENFY_LOAD_INPUTS_H */

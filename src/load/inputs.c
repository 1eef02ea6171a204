/*-------------------------------------------------------------------------
 *
 * inputs.c
 *	  The inputs of an idenfy-load run, from its FILE arguments.
 *
 * A FILE argument is a file (any name), "-" (standard input), or a
 * directory: its entries whose names end in .json, .ndjson or .jsonl (in
 * any case) and that are regular files (or symbolic links to one), in
 * byte order of their names (strcmp: the C locale, whatever LC_COLLATE
 * says), not recursively; names starting with "." are skipped, and so are
 * subdirectories and other entries.  Each input keeps the event type of
 * the -e given before its argument.
 *
 * Every input is opened here once, before connecting, so that one that
 * cannot be read is reported (on standard error, and for the summary)
 * before anything is loaded, and left out; the rest of the run goes on.
 * The reader opens them again when their turn comes (an input that fails
 * then is reported the same way, through the reader).
 *
 * Also here: the password prompt, which reads from the terminal
 * (/dev/tty) with echo off, never from standard input (that may be the
 * callbacks).
 *
 * src/load/inputs.c
 *
 *-------------------------------------------------------------------------
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "inputs.h"

static void *
InputsAlloc(size_t n)
{
	void	   *p = malloc(n);

	if (p == NULL)
	{
		fprintf(stderr, "idenfy-load: out of memory\n");
		exit(2);
	}
	return p;
}

static char *
InputsStrDup(const char *s)
{
	char	   *p = InputsAlloc(strlen(s) + 1);

	return strcpy(p, s);
}

void
inputs_init(Inputs *in, const char *progname)
{
	memset(in, 0, sizeof(*in));
	in->size_known = true;
	in->progname = progname;
}

/*
 * An input that cannot be used: on standard error now, and kept for the
 * summary.
 */
void
inputs_problem(Inputs *in, const char *file, const char *fmt,...)
{
	char		msg[1024];
	va_list		ap;
	InputProblem *p;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s: %s\n", in->progname, file, msg);

	if (in->nproblems == in->cap_problems)
	{
		int			cap = in->cap_problems ? in->cap_problems * 2 : 8;
		InputProblem *items = InputsAlloc(cap * sizeof(InputProblem));

		if (in->nproblems > 0)
			memcpy(items, in->problems, in->nproblems * sizeof(InputProblem));
		free(in->problems);
		in->problems = items;
		in->cap_problems = cap;
	}
	p = &in->problems[in->nproblems++];
	p->file = InputsStrDup(file);
	p->message = InputsStrDup(msg);
}

static void
AddInput(Inputs *in, const char *path, const char *event_type)
{
	if (in->n == in->cap)
	{
		int			cap = in->cap ? in->cap * 2 : 16;
		LoadInput  *items = InputsAlloc(cap * sizeof(LoadInput));

		if (in->n > 0)
			memcpy(items, in->items, in->n * sizeof(LoadInput));
		free(in->items);
		in->items = items;
		in->cap = cap;
	}
	in->items[in->n].path = InputsStrDup(path);
	in->items[in->n].event_type = event_type;
	in->n++;
}

/*
 * Check that a file can be opened and read; add it, or report it.  A
 * directory named as a file (an entry that is one is never passed here)
 * is expanded by the caller.
 */
static void
AddFile(Inputs *in, const char *path, const char *event_type)
{
	struct stat st;
	int			fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
	{
		inputs_problem(in, path, "could not open: %s", strerror(errno));
		return;
	}
	if (fstat(fd, &st) != 0)
	{
		inputs_problem(in, path, "could not stat: %s", strerror(errno));
		close(fd);
		return;
	}
	close(fd);
	if (S_ISREG(st.st_mode))
		in->total_bytes += st.st_size;
	else
		in->size_known = false;
	AddInput(in, path, event_type);
}

/* Is a directory entry's name one of an input (.json, .ndjson, .jsonl)? */
bool
inputs_is_input_name(const char *name)
{
	static const char *const suffixes[] = {".json", ".ndjson", ".jsonl"};
	size_t		len = strlen(name);

	if (name[0] == '.')
		return false;
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++)
	{
		size_t		slen = strlen(suffixes[i]);

		if (len > slen && strcasecmp(name + len - slen, suffixes[i]) == 0)
			return true;
	}
	return false;
}

static int
CompareNames(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The input files of a directory, in name order. */
static void
AddDirectory(Inputs *in, const char *dir, const char *event_type)
{
	DIR		   *d = opendir(dir);
	struct dirent *de;
	char	  **names = NULL;
	size_t		n = 0;
	size_t		cap = 0;
	size_t		dlen = strlen(dir);
	bool		slash = dlen > 0 && dir[dlen - 1] == '/';

	if (d == NULL)
	{
		inputs_problem(in, dir, "could not open directory: %s", strerror(errno));
		return;
	}
	errno = 0;
	while ((de = readdir(d)) != NULL)
	{
		if (!inputs_is_input_name(de->d_name))
			continue;
		if (n == cap)
		{
			char	  **more;

			cap = cap ? cap * 2 : 64;
			more = InputsAlloc(cap * sizeof(char *));
			if (n > 0)
				memcpy(more, names, n * sizeof(char *));
			free(names);
			names = more;
		}
		names[n] = InputsAlloc(dlen + 1 + strlen(de->d_name) + 1);
		sprintf(names[n], "%s%s%s", dir, slash ? "" : "/", de->d_name);
		n++;
		errno = 0;
	}
	if (errno != 0)
		inputs_problem(in, dir, "could not read directory: %s", strerror(errno));
	closedir(d);

	if (n > 0)
		qsort(names, n, sizeof(char *), CompareNames);
	for (size_t i = 0; i < n; i++)
	{
		struct stat st;

		/* follow symbolic links; skip subdirectories and special files */
		if (stat(names[i], &st) != 0)
			inputs_problem(in, names[i], "could not stat: %s", strerror(errno));
		else if (S_ISREG(st.st_mode))
			AddFile(in, names[i], event_type);
		free(names[i]);
	}
	free(names);
}

/* One FILE argument: "-", a file, or a directory. */
void
inputs_add_arg(Inputs *in, const char *arg, const char *event_type)
{
	struct stat st;

	if (strcmp(arg, "-") == 0)
	{
		if (fstat(STDIN_FILENO, &st) == 0 && S_ISREG(st.st_mode))
			in->total_bytes += st.st_size;
		else
			in->size_known = false;
		AddInput(in, arg, event_type);
		return;
	}
	if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode))
		AddDirectory(in, arg, event_type);
	else
		AddFile(in, arg, event_type);
}

void
inputs_free(Inputs *in)
{
	for (int i = 0; i < in->n; i++)
		free((char *) in->items[i].path);
	for (int i = 0; i < in->nproblems; i++)
	{
		free(in->problems[i].file);
		free(in->problems[i].message);
	}
	free(in->items);
	free(in->problems);
}

/*
 * Ask for a password on the terminal, with echo off, as libpq's own tools
 * do (simple_prompt); returns a malloc'ed string, or NULL when there is no
 * terminal to ask on (a cron job, a pipe).  The prompt and the newline
 * after the answer go to the terminal too, so that standard output and
 * error stay clean.
 */
char *
prompt_password(const char *prompt)
{
	int			fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	struct termios saved;
	struct termios noecho;
	bool		have_termios;
	char		buf[1024];
	size_t		len = 0;
	char	   *result;

	if (fd < 0)
		return NULL;
	have_termios = (tcgetattr(fd, &saved) == 0);
	if (have_termios)
	{
		noecho = saved;
		noecho.c_lflag &= ~ECHO;
		noecho.c_lflag |= ICANON | ECHONL;
		tcsetattr(fd, TCSAFLUSH, &noecho);
	}
	if (write(fd, prompt, strlen(prompt)) < 0)
	{
		/* nothing to do: the answer is read all the same */
	}
	for (;;)
	{
		char		ch;
		ssize_t		r = read(fd, &ch, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || ch == '\n')
			break;
		if (len < sizeof(buf) - 1)
			buf[len++] = ch;
	}
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	buf[len] = '\0';
	if (have_termios)
		tcsetattr(fd, TCSAFLUSH, &saved);
	else if (write(fd, "\n", 1) < 0)
	{
		/* as above */
	}
	close(fd);
	result = InputsStrDup(buf);
	memset(buf, 0, sizeof(buf));
	return result;
}

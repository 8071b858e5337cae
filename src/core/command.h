/* command: which command of a static route a comment asks for. A command
 * is the route's prefix ("@agent") as a word, then a command name or
 * alias ("@agent fix the build"); the prefix followed by anything else
 * asks for the default command. Quoted lines ("> @agent fix", what a reply
 * quotes) and fenced code blocks never trigger. Pure. */
#ifndef HOOKQ_CORE_COMMAND_H
#define HOOKQ_CORE_COMMAND_H

#include <stdbool.h>
#include <stddef.h>

struct command_def {
	const char *name;
	const char *const *aliases; /* NULL-terminated, or NULL */
};

struct command_match {
	bool is_default;     /* no known name after the prefix */
	size_t index;	     /* into defs, when !is_default */
	size_t prefix_at;    /* where the prefix starts in the text */
	size_t args_at;	     /* where the request after the command starts */
	size_t args_len;     /* to the end of that line */
};

/* 0 with *ret for the first use of prefix (case-insensitive, as a word)
 * outside quotes and code; HQ_E_NOTFOUND when there is none. Names and
 * aliases compare without regard to case. */
int command_match(const char *prefix, const struct command_def *defs, size_t n,
		  const char *text, size_t len, struct command_match *ret);

#endif

#!/bin/sh
# CLI e2e (cli_tasks.test.mjs): echoes its prompt; a prompt starting with
# FAIL exits 3, SLEEP works for 20 s (to be cancelled or waited on), ESC
# writes terminal escape sequences that the CLI must not pass through.
prompt=$(cat)
echo "cli-echo task ${HOOKQ_TASK_ID} on ${HOOKQ_WORKER}"
printf 'prompt: %s\n' "$prompt"
case "$prompt" in
FAIL*)
	echo "failing on purpose" >&2
	exit 3
	;;
SLEEP*)
	sleep 20
	;;
ESC*)
	printf 'title \033]0;owned\007 clear \033[2J csi \302\233 bidi \342\200\256 bad \377 end\n'
	;;
esac
echo "cli-echo done"

-- What routing decided for a completed event, as JSON: the routes that
-- read it, the command or trigger that matched (with the agent and the
-- rendered prompt), or why nothing did (no prefix, not authorized, ...).
ALTER TABLE events ADD COLUMN routing TEXT;

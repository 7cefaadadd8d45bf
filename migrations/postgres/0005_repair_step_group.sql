-- The process group of the step a repair is running, with its leader's start time (clock ticks
-- since boot), so a restart after a crash can kill a step that outlived the daemon - and never
-- a stranger that reused the pid.
ALTER TABLE repairs ADD COLUMN step_pgid BIGINT;
ALTER TABLE repairs ADD COLUMN step_started_ticks BIGINT;

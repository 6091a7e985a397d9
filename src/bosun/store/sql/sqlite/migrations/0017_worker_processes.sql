-- Which process a worker is, so that a worker on the same machine can tell it died without
-- waiting for its leases to expire (bosun.worker.liveness): the machine's boot id and the
-- PID namespace its pid is counted in (`<boot id>/<namespace inode>`), and the process's
-- start time in clock ticks since boot (a pid reused by another process has another one).
-- NULL where unknown: such a worker is only ever recognised as dead by its leases expiring.
ALTER TABLE workers ADD COLUMN pid_namespace TEXT;
ALTER TABLE workers ADD COLUMN pid_started INTEGER;

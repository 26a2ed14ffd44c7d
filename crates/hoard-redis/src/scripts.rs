//! The Lua scripts the tier runs: each does a check and a change in one step on the server.

/// Bumps a namespace generation and announces it (when a channel is given).
pub(crate) const GENERATION_SCRIPT: &str = r"local g = redis.call('INCR', KEYS[1]); if ARGV[1] ~= '' then redis.call('PUBLISH', ARGV[1], ARGV[2] .. g) end; return g";

/// Moves an entry's deadline: header bytes and Redis expiry together, if the key exists.
pub(crate) const TOUCH_SCRIPT: &str = r"if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('SETRANGE', KEYS[1], 2, ARGV[1]); return redis.call('PEXPIREAT', KEYS[1], ARGV[2]) else return 0 end";

/// Extends a lease only while `token` holds it.
pub(crate) const RENEW_SCRIPT: &str = r"if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";

/// Deletes a lease only while `token` holds it (compare-and-delete).
pub(crate) const UNLOCK_SCRIPT: &str = r"if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

/// Appends each argument to the stream `KEYS[1]` as an entry `r = ARGV[i]`; returns the ids.
pub(crate) const ENQUEUE_SCRIPT: &str = r"local ids = {}; for i, r in ipairs(ARGV) do ids[i] = redis.call('XADD', KEYS[1], '*', 'r', r) end; return ids";
